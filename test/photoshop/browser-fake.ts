/**
 * Runs in the test page before the panel: an in-memory Photoshop with the test scene, exposed as
 * `require('photoshop')` / `require('uxp')` (what UXP gives a plugin) and as `window.__ipaFake` for the
 * test's assertions. `window.__ipaFakeConfig` picks the document's depth and profile.
 */
import { FakeWorld } from './fake-photoshop.ts';
import { addScene, type SceneOptions } from './scene.ts';

interface FakeConfig {
  scene?: SceneOptions;
  convertsOnRead?: boolean;
}

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
