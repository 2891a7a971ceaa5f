/**
 * Runs in the test page before the panel: an in-memory Photoshop with the test scene, exposed as
 * `require('photoshop')` / `require('uxp')` (what UXP gives a plugin) and as `window.__ipaFake` for the
 * test's assertions. `window.__ipaFakeConfig` picks the document's depth and profile.
 */
import { FakeWorld } from './fake-photoshop.ts';
import { addScene, type SceneOptions } from './scene.ts';
import { defineSpectrumStandIns } from './spectrum-standins.ts';

interface FakeConfig {
  scene?: SceneOptions;
  convertsOnRead?: boolean;
}

// UXP draws the sp-* widgets itself; a browser needs the test's stand-ins.
defineSpectrumStandIns();

const w = window as unknown as { __ipaFakeConfig?: FakeConfig; __ipaFake?: unknown; require?: (id: string) => unknown };
const cfg = w.__ipaFakeConfig ?? {};
const world = new FakeWorld({ convertsOnRead: cfg.convertsOnRead ?? true });
const doc = addScene(world, cfg.scene ?? {});
const modules: Record<string, unknown> = { photoshop: world.photoshop(), uxp: world.uxp() };

w.require = (id: string) => {
  if (id in modules) return modules[id];
  throw new Error(`require("${id}"): not available in the test page`);
};

function tree(ls: typeof doc.layers): unknown[] {
  return ls.map((l) => ({ id: l.id, name: l.name, visible: l.visible, children: l.layers ? tree(l.layers) : undefined }));
}

w.__ipaFake = {
  world,
  doc,
  selectLayer: (name: string) => world.selectLayer(doc, name),
  summary: () => ({
    tree: tree(doc.layers),
    history: [...doc.history],
    liveImageData: world.liveImageData,
    modalLog: world.modalLog.map((m) => ({ ...m })),
    xmp: Object.fromEntries(doc.all().filter((l) => l.xmp).map((l) => [l.name, l.xmp])),
  }),
  pixel: (layerName: string, x: number, y: number) => doc.byName(layerName).pixel(x, y),
  layerByPrefix: (prefix: string) => doc.all().find((l) => l.name.startsWith(prefix))?.name ?? null,
};

/**
 * UXP's `ImageBlob` (raw pixels in a Blob an <img> can show), as far as the panel uses it: 8-bit RGBA,
 * `image/uncompressed`. Chromium cannot show raw pixels, so the stand-in wraps them in a BMP.
 */
class FakeImageBlob extends Blob {
  constructor(data: ArrayBuffer, o: { type?: string; width: number; height: number; components?: number; componentSize?: number; pixelFormat?: string }) {
    if (o.type !== 'image/uncompressed' || o.components !== 4 || o.componentSize !== 8 || o.pixelFormat !== 'RGBA') {
      throw new Error(`ImageBlob: unsupported options ${JSON.stringify(o)}`);
    }
    if (data.byteLength !== o.width * o.height * 4) throw new Error(`ImageBlob: ${data.byteLength} bytes for ${o.width}x${o.height} RGBA`);
    super([bmp(new Uint8Array(data), o.width, o.height)], { type: 'image/bmp' });
  }
}

/** A bottom-up 24-bit BMP (alpha dropped: previews and results are opaque). */
function bmp(rgba: Uint8Array, width: number, height: number): Uint8Array<ArrayBuffer> {
  const stride = (width * 3 + 3) & ~3;
  const out = new Uint8Array(54 + stride * height);
  const dv = new DataView(out.buffer);
  out[0] = 0x42; out[1] = 0x4d;
  dv.setUint32(2, out.length, true);
  dv.setUint32(10, 54, true);
  dv.setUint32(14, 40, true);
  dv.setInt32(18, width, true);
  dv.setInt32(22, height, true);
  dv.setUint16(26, 1, true);
  dv.setUint16(28, 24, true);
  dv.setUint32(34, stride * height, true);
  for (let y = 0; y < height; y++) {
    const row = 54 + (height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const s = (y * width + x) * 4;
      out[row + x * 3] = rgba[s + 2];
      out[row + x * 3 + 1] = rgba[s + 1];
      out[row + x * 3 + 2] = rgba[s];
    }
  }
  return out;
}

(window as unknown as { ImageBlob: unknown }).ImageBlob = FakeImageBlob;
