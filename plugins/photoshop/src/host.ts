/**
 * The small host interface the panel uses, and its real implementation over the UXP `photoshop` and
 * `uxp` modules (passed in, so tests and the headless-Chromium run give fakes with an in-memory
 * document). Everything that is not a Photoshop call — sizes, masks, colour, compositing — lives in
 * shared/plugin/.
 *
 * Rules the implementation keeps:
 * - pixels are read as 8-bit sRGB whatever the document's depth and profile (Photoshop converts; if it
 *   hands back something else, shared/plugin/color-convert.ts does), and `imageData.dispose()` follows
 *   `getData()` at once;
 * - reads and writes run inside `core.executeAsModal`, and a scope never outlives its function (the
 *   panel never waits on the network inside one);
 * - a write is one history step: history is suspended for the scope and committed (or rolled back).
 */
import type { SocketLike } from '../../../shared/protocol/client.ts';
import {
  baseProfileName, findProfile, fromSrgb8, isSrgb, SRGB_PROFILE, toSrgb8, type ComponentSize, type PixelArray,
} from '../../../shared/plugin/color-convert.ts';
import { scaledStripes, type Gray8, type Rgba8 } from '../../../shared/plugin/raster.ts';
import { boundsToRect, intersectRect, levelBoundsToDocument, rectToBounds, type Rect, type Size } from '../../../shared/plugin/region.ts';
import { readXmpRecord, writeXmpRecord } from '../../../shared/plugin/xmp-record.ts';
import type { PsDescriptor, PsDocument, PsExecutionContext, PsImageData, PsLayer, PsModule, UxpFile, UxpModule } from './uxp-api.ts';

export type DocMode = 'rgb' | 'cmyk' | 'lab' | 'grayscale' | 'indexed' | 'bitmap' | 'duotone' | 'multichannel' | 'other';

export interface DocInfo {
  id: number;
  title: string;
  width: number;
  height: number;
  mode: DocMode;
  bitDepth: 1 | 8 | 16 | 32;
  /** Photoshop's profile name ("Adobe RGB (1998)"); "" when untagged. */
  profile: string;
}

export type LayerKind = 'pixel' | 'group' | 'text' | 'smartObject' | 'adjustment' | 'fill' | 'other';

export interface LayerInfo {
  id: number;
  name: string;
  kind: LayerKind;
  visible: boolean;
  /** Nesting depth in groups (0 = top level), for indenting a picker. */
  depth: number;
  /** Pixel bounds without effects, null when empty. */
  bounds: Rect | null;
  isBackground: boolean;
}

/** Pixels read from the document and the document rectangle they show. */
export interface PixelRead {
  image: Rgba8;
  doc: Rect;
  /** Set when colours could not be converted exactly (an unknown profile returned as is). */
  colorNote?: string;
}

export interface SelectionRead {
  mask: Gray8;
  doc: Rect;
}

export interface InsertRequest {
  docId: number;
  /** The new layer goes directly above this one (inside its group); null = above the active layer. */
  aboveLayerId: number | null;
  name: string;
  /** 8-bit sRGB at any size; scaled to `area` and converted to the document's depth and profile here. */
  image: Rgba8;
  /** Document rectangle the image covers. */
  area: Rect;
  /** Transparency at `area`'s size (the selection), or null for opaque. */
  alpha: Gray8 | null;
  /** JSON kept with the layer (in its XMP). */
  record?: string;
}

/** Operations that need Photoshop's modal state. Valid only while the scope's function runs. */
export interface ModalScope {
  readonly cancelled: boolean;
  /** Visible layers merged, `rect` read at `size`; `hide` layers are left out (hidden and rolled back). */
  readComposite(docId: number, rect: Rect, size: Size, hide?: readonly number[]): Promise<PixelRead | null>;
  /** One layer's pixels inside `rect` (null = all of it) at `size` (null = full resolution). */
  readLayer(docId: number, layerId: number, rect: Rect | null, size: Size | null): Promise<PixelRead | null>;
  readSelection(docId: number, rect: Rect): Promise<SelectionRead | null>;
  insertLayer(req: InsertRequest): Promise<number>;
}

export interface PickedFile {
  name: string;
  bytes: Uint8Array;
}

export interface PsHost {
  activeDocument(): DocInfo | null;
  document(id: number): DocInfo | null;
  /** Top to bottom, groups before their children. */
  layers(docId: number): LayerInfo[];
  activeLayerIds(docId: number): number[];
  selectionBounds(docId: number): Promise<Rect | null>;
  /** Runs `fn` in a modal scope; with `history`, all its changes become one history step. */
  modal<T>(label: string, fn: (scope: ModalScope) => Promise<T>, history?: { docId: number; name: string }): Promise<T>;
  readLayerRecord(docId: number, layerId: number): Promise<string | null>;
  /** Document switched, layers or selection changed (debounce in the caller). */
  onDocumentChange(fn: () => void): void;
  load(key: string): string | null;
  save(key: string, value: string | null): void;
  loadSecret(key: string): Promise<string | null>;
  saveSecret(key: string, value: string | null): Promise<void>;
  pickImageFile(): Promise<PickedFile | null>;
  imageUrl(img: Rgba8): string;
  releaseImageUrl(url: string): void;
  openSocket(url: string): SocketLike;
  probe(url: string): Promise<boolean>;
}

export class HostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostError';
  }
}

const MODES: Record<string, DocMode> = {
  RGBColorMode: 'rgb', CMYKColorMode: 'cmyk', labColorMode: 'lab', grayscaleMode: 'grayscale',
  indexedColorMode: 'indexed', bitmapMode: 'bitmap', duotoneMode: 'duotone', multichannelMode: 'multichannel',
};
const DEPTHS: Record<string, DocInfo['bitDepth']> = { bitDepth1: 1, bitDepth8: 8, bitDepth16: 16, bitDepth32: 32 };

const ADJUSTMENTS = new Set(['blackAndWhite', 'brightnessContrast', 'channelMixer', 'colorBalance', 'curves', 'exposure', 'gradientMap', 'hueSaturation', 'inversion', 'levels', 'photoFilter', 'posterize', 'selectiveColor', 'threshold', 'vibrance', 'colorLookup']);

function layerKind(kind: string): LayerKind {
  if (kind === 'pixel' || kind === 'group' || kind === 'text' || kind === 'smartObject') return kind;
  if (ADJUSTMENTS.has(kind)) return 'adjustment';
  if (kind === 'solidColor' || kind === 'gradientFill' || kind === 'pattern') return 'fill';
  return 'other';
}

export function docInfo(d: PsDocument): DocInfo {
  const profile = d.colorProfileName && d.colorProfileName !== 'None' ? d.colorProfileName : '';
  return {
    id: d.id, title: d.title, width: Math.round(d.width), height: Math.round(d.height),
    mode: MODES[d.mode] ?? 'other', bitDepth: DEPTHS[d.bitsPerChannel] ?? 8, profile,
  };
}

/** Descriptor numbers come as plain numbers or `{_unit, _value}`. */
function unitValue(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { _value?: unknown })._value === 'number') return (v as { _value: number })._value;
  return null;
}

function* walk(layers: ArrayLike<PsLayer>, depth = 0): Generator<{ layer: PsLayer; depth: number }> {
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i];
    yield { layer, depth };
    if (layer.layers && layer.layers.length) yield* walk(layer.layers, depth + 1);
  }
}

/** Reads a whole imageData and disposes it at once (Photoshop frees the memory now, not at GC). */
async function takeData(img: PsImageData): Promise<PixelArray> {
  try {
    return await img.getData({ chunky: true });
  } finally {
    img.dispose();
  }
}

function to8(data: PixelArray, componentSize: ComponentSize): Uint8Array {
  if (data instanceof Uint8Array) return data;
  const out = new Uint8Array(data.length);
  const k = componentSize === 16 ? 255 / 32768 : 255;
  for (let i = 0; i < data.length; i++) out[i] = Math.max(0, Math.min(255, Math.round(data[i] * k)));
  return out;
}

const XMP_PROPERTY = 'XMPMetadataAsUTF8';

export interface HostOptions {
  /** Where settings go (UXP and browsers: window.localStorage). */
  localStorage?: Storage;
  /** Largest stripe written with one putPixels (pixels). */
  stripePixels?: number;
}

export function createUxpHost(ps: PsModule, uxp: UxpModule, opts: HostOptions = { localStorage: (globalThis as { localStorage?: Storage }).localStorage }): PsHost {
  const win = opts;
  const stripePixels = opts.stripePixels ?? 4 * 1024 * 1024;
  const findDoc = (id: number): PsDocument | null => {
    for (let i = 0; i < ps.app.documents.length; i++) if (ps.app.documents[i].id === id) return ps.app.documents[i];
    return null;
  };
  const mustDoc = (id: number): PsDocument => {
    const d = findDoc(id);
    if (!d) throw new HostError('The document was closed.');
    return d;
  };
  const findLayer = (doc: PsDocument, id: number): PsLayer | null => {
    for (const { layer } of walk(doc.layers)) if (layer.id === id) return layer;
    return null;
  };

  const toRead = async (img: PsImageData, bounds: Rect, profileHint: string): Promise<PixelRead> => {
    const { width, height, components, componentSize } = img;
    const profileName = img.colorProfile || profileHint;
    const data = await takeData(img);
    const converted = componentSize === 8 && components === 4 && isSrgb(findProfile(profileName)) && data instanceof Uint8Array;
    const prof = findProfile(profileName);
    const image = converted ? { width, height, data } : toSrgb8(data, { width, height, components, componentSize, profile: prof });
    const read: PixelRead = { image, doc: bounds };
    if (!prof && profileName) read.colorNote = `Colours are read as they are in "${profileName}" (not converted to sRGB).`;
    return read;
  };

  const load = (key: string): string | null => {
    try {
      return win.localStorage?.getItem(key) ?? null;
    } catch {
      return null;
    }
  };
  const save = (key: string, value: string | null): void => {
    try {
      if (value === null) win.localStorage?.removeItem(key);
      else win.localStorage?.setItem(key, value);
    } catch {
      // storage full or unavailable: settings stay for this session
    }
  };

  const readLayerRecord = async (docId: number, layerId: number): Promise<string | null> => {
    const xmp = await layerXmp(docId, layerId);
    return readXmpRecord(xmp);
  };

  const layerXmp = async (docId: number, layerId: number): Promise<string | null> => {
    try {
      const [r] = await ps.action.batchPlay([{ _obj: 'get', _target: [{ _property: 'metadata' }, { _ref: 'layer', _id: layerId }, { _ref: 'document', _id: docId }] }], {});
      const meta = r?.metadata as { layerXMP?: unknown } | undefined;
      if (typeof meta?.layerXMP === 'string') return meta.layerXMP;
      if (typeof r?.[XMP_PROPERTY] === 'string') return r[XMP_PROPERTY] as string;
    } catch {
      // a layer without metadata answers with an error on some versions
    }
    return null;
  };

  const scopeFor = (ctx: PsExecutionContext, alive: () => boolean): ModalScope => {
    const live = (): void => {
      if (!alive()) throw new HostError('internal: a modal scope was used after it ended');
    };
    return {
      get cancelled() {
        return ctx.isCancelled;
      },

      async readComposite(docId, rect, size, hide = []) {
        live();
        const doc = mustDoc(docId);
        // Hiding layers is a document change: suspend history and roll it back, so nothing is recorded.
        let suspension: unknown = null;
        const hidden = hide.map((id) => findLayer(doc, id)).filter((l): l is PsLayer => !!l && l.visible);
        if (hidden.length) {
          suspension = await ctx.hostControl.suspendHistory({ documentID: docId, name: 'IP-Adapter read' });
          for (const l of hidden) l.visible = false;
        }
        try {
          const scaled = size.width !== rect.width || size.height !== rect.height;
          const r = await ps.imaging.getPixels({
            documentID: docId, sourceBounds: rectToBounds(rect), ...(scaled ? { targetSize: { width: size.width, height: size.height } } : {}),
            colorSpace: 'RGB', colorProfile: SRGB_PROFILE, componentSize: 8,
          });
          return toRead(r.imageData, levelBoundsToDocument(r.sourceBounds, r.level), docInfo(doc).profile);
        } finally {
          if (suspension !== null) await ctx.hostControl.resumeHistory(suspension as never, false);
        }
      },

      async readLayer(docId, layerId, rect, size) {
        live();
        const doc = mustDoc(docId);
        const layer = findLayer(doc, layerId);
        if (!layer) throw new HostError('The chosen layer no longer exists: pick it again.');
        const lb = boundsToRect(layer.boundsNoEffects ?? layer.bounds);
        const area = rect ? intersectRect(lb, rect) : lb.width > 0 && lb.height > 0 ? lb : null;
        if (!area) return null;
        // Scale the target like the area (`size` is for `rect`, or for the whole layer).
        const base = rect ?? lb;
        const target = size ? { width: Math.max(1, Math.round(area.width * size.width / base.width)), height: Math.max(1, Math.round(area.height * size.height / base.height)) } : null;
        const scaled = target && (target.width !== area.width || target.height !== area.height);
        let r;
        try {
          r = await ps.imaging.getPixels({
            documentID: docId, layerID: layerId, sourceBounds: rectToBounds(area), ...(scaled ? { targetSize: target } : {}),
            colorSpace: 'RGB', colorProfile: SRGB_PROFILE, componentSize: 8,
          });
        } catch (e) {
          throw new HostError(`Cannot read the pixels of "${layer.name}" (${layerKind(layer.kind)} layer): ${(e as Error).message}. Rasterize or merge it into a pixel layer.`);
        }
        return toRead(r.imageData, levelBoundsToDocument(r.sourceBounds, r.level), docInfo(doc).profile);
      },

      async readSelection(docId, rect) {
        live();
        let r;
        try {
          r = await ps.imaging.getSelection({ documentID: docId, sourceBounds: rectToBounds(rect) });
        } catch {
          return null; // no selection
        }
        const { width, height, components, componentSize } = r.imageData;
        const data = to8(await takeData(r.imageData), componentSize);
        const mask = components === 1 ? data : Uint8Array.from({ length: width * height }, (_v, i) => data[i * components]);
        return { mask: { width, height, data: mask }, doc: boundsToRect(r.sourceBounds) };
      },

      async insertLayer(req) {
        live();
        const doc = mustDoc(req.docId);
        const info = docInfo(doc);
        const layer = await doc.createPixelLayer({ name: req.name });
        if (!layer) throw new HostError('Photoshop did not create the layer.');
        const anchor = req.aboveLayerId !== null ? findLayer(doc, req.aboveLayerId) : null;
        if (anchor && anchor.id !== layer.id) await layer.move(anchor, ps.constants.ElementPlacement.PLACEBEFORE);
        // Known matrix profiles are converted here (exact, no reliance on the host); others go as sRGB
        // and Photoshop converts. 16/32-bit documents get 16/32-bit data.
        const known = findProfile(info.profile);
        const depth: ComponentSize = info.bitDepth === 16 ? 16 : info.bitDepth === 32 ? 32 : 8;
        // Scaled, masked and converted stripe by stripe: memory stays bounded for any region size.
        for (const stripe of scaledStripes(req.image, req.area.width, req.area.height, req.alpha, stripePixels)) {
          const data = fromSrgb8(stripe.pixels, { componentSize: depth, profile: known });
          const imageData = await ps.imaging.createImageDataFromBuffer(data, {
            width: stripe.pixels.width, height: stripe.pixels.height, components: 4, chunky: true, colorSpace: 'RGB',
            colorProfile: known ? baseProfileName(known.name) : SRGB_PROFILE,
          });
          try {
            await ps.imaging.putPixels({
              documentID: req.docId, layerID: layer.id, imageData, replace: stripe.y === 0,
              targetBounds: { left: req.area.x, top: req.area.y + stripe.y }, commandName: 'Generate with IP-Adapter',
            });
          } finally {
            imageData.dispose();
          }
        }
        if (req.record !== undefined) {
          const xmp = writeXmpRecord(await layerXmp(req.docId, layer.id), req.record);
          await ps.action.batchPlay([{
            _obj: 'set',
            _target: [{ _ref: 'property', _property: XMP_PROPERTY }, { _ref: 'layer', _id: layer.id }, { _ref: 'document', _id: req.docId }],
            to: { _obj: 'layer', [XMP_PROPERTY]: xmp },
          }], {});
        }
        return layer.id;
      },
    };
  };

  return {
    activeDocument() {
      try {
        const d = ps.app.activeDocument;
        return d ? docInfo(d) : null;
      } catch {
        return null; // no document open
      }
    },

    document(id) {
      const d = findDoc(id);
      return d ? docInfo(d) : null;
    },

    layers(docId) {
      const doc = findDoc(docId);
      if (!doc) return [];
      const out: LayerInfo[] = [];
      for (const { layer, depth } of walk(doc.layers)) {
        const r = boundsToRect(layer.boundsNoEffects ?? layer.bounds);
        out.push({
          id: layer.id, name: layer.name, kind: layerKind(layer.kind), visible: layer.visible, depth,
          bounds: r.width > 0 && r.height > 0 ? r : null, isBackground: layer.isBackgroundLayer,
        });
      }
      return out;
    },

    activeLayerIds(docId) {
      const doc = findDoc(docId);
      if (!doc) return [];
      return Array.from(doc.activeLayers, (l) => l.id);
    },

    async selectionBounds(docId) {
      try {
        const [r] = await ps.action.batchPlay([{ _obj: 'get', _target: [{ _property: 'selection' }, { _ref: 'document', _id: docId }] }], {});
        const s = r?.selection as Record<string, unknown> | undefined;
        if (!s) return null;
        const left = unitValue(s.left), top = unitValue(s.top), right = unitValue(s.right), bottom = unitValue(s.bottom);
        if (left === null || top === null || right === null || bottom === null || right <= left || bottom <= top) return null;
        return boundsToRect({ left, top, right, bottom });
      } catch {
        return null;
      }
    },

    async modal(label, fn, history) {
      return ps.core.executeAsModal(async (ctx) => {
        let alive = true;
        let suspension: unknown = null;
        if (history) suspension = await ctx.hostControl.suspendHistory({ documentID: history.docId, name: history.name });
        try {
          const out = await fn(scopeFor(ctx, () => alive));
          if (suspension !== null) await ctx.hostControl.resumeHistory(suspension as never, true);
          return out;
        } catch (e) {
          if (suspension !== null) await ctx.hostControl.resumeHistory(suspension as never, false).catch(() => undefined);
          throw e;
        } finally {
          alive = false;
        }
      }, { commandName: label });
    },

    readLayerRecord,

    onDocumentChange(fn) {
      const events = ['select', 'make', 'delete', 'set', 'open', 'close', 'move', 'hide', 'show', 'historyStateChanged', 'layersFiltered'];
      void ps.action.addNotificationListener(events, () => fn()).catch(() => undefined);
    },

    load,
    save,

    async loadSecret(key) {
      const s = uxp.storage.secureStorage;
      if (!s) return load(key);
      try {
        const v = await s.getItem(key);
        return v && v.length ? String.fromCharCode(...v) : null;
      } catch {
        return null;
      }
    },

    async saveSecret(key, value) {
      const s = uxp.storage.secureStorage;
      if (!s) return save(key, value);
      if (value === null) await s.removeItem(key).catch(() => undefined);
      else await s.setItem(key, value);
    },

    async pickImageFile() {
      const fs = uxp.storage.localFileSystem;
      if (!fs) throw new HostError('This Photoshop version cannot open files from a plugin.');
      const file = await fs.getFileForOpening({ types: ['png', 'jpg', 'jpeg'], allowMultiple: false }) as UxpFile | null | undefined;
      if (!file) return null;
      const data = await file.read({ format: uxp.storage.formats?.binary });
      const bytes = typeof data === 'string' ? Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff) : new Uint8Array(data);
      return { name: file.name, bytes };
    },

    imageUrl(img) {
      try {
        return imageUrlOf(img);
      } catch {
        return ''; // no ImageBlob and no canvas pixels: the thumbnail stays blank, everything else works
      }
    },

    releaseImageUrl(url) {
      if (url.startsWith('blob:')) URL.revokeObjectURL(url);
    },

    openSocket(url) {
      return new WebSocket(url) as unknown as SocketLike;
    },

    async probe(url) {
      try {
        await fetch(url, { mode: 'no-cors', cache: 'no-store' });
        return true;
      } catch {
        return false; // nothing listens — or this host does not allow plain HTTP to it (UXP without an http:// domain)
      }
    },
  };
}

/**
 * A URL an <img> shows: UXP has no canvas pixel access but has ImageBlob (raw RGBA in a Blob); a
 * browser (the headless test) has canvas.
 */
function imageUrlOf(img: Rgba8): string {
  const ImageBlobCtor = (globalThis as { ImageBlob?: new (data: ArrayBuffer, options: object) => Blob }).ImageBlob;
  if (ImageBlobCtor) {
    const buf = img.data.buffer.slice(img.data.byteOffset, img.data.byteOffset + img.data.byteLength) as ArrayBuffer;
    const blob = new ImageBlobCtor(buf, {
      type: 'image/uncompressed', width: img.width, height: img.height, colorSpace: 'RGB', colorProfile: SRGB_PROFILE,
      pixelFormat: 'RGBA', components: 4, componentSize: 8, hasAlpha: true,
    });
    return URL.createObjectURL(blob);
  }
  const canvas = document.createElement('canvas');
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext('2d');
  if (!ctx) return '';
  ctx.putImageData(new ImageData(new Uint8ClampedArray(img.data), img.width, img.height), 0, 0);
  return canvas.toDataURL('image/png');
}
