/**
 * An in-memory Photoshop behind the `photoshop` and `uxp` module shapes the plugin uses (uxp-api.ts,
 * which is checked against Adobe's declarations): documents with layers and groups, bounds, a soft
 * selection, history (with suspend/resume and roll back), layer XMP, bit depth (8/16/32) and colour
 * profile. No Node APIs: it also runs inside headless Chromium for the panel test.
 *
 * It behaves like Photoshop where the plugin could get it wrong:
 * - pixels are stored in the document's encoding (16-bit quantised to 0..32768, 32-bit linear) and
 *   `getPixels` converts to the requested depth/profile only when `convertsOnRead` is on (off imitates a
 *   host that returns native data, so the plugin's own conversion is exercised);
 * - a scaled `getPixels` reads from a pyramid level and returns bounds in that level's pixels;
 * - layer reads are trimmed to the layer's pixels; a composite over a background has no alpha;
 * - DOM changes, putPixels and batchPlay "set" fail outside `executeAsModal`; only one modal scope at a
 *   time; every imageData is counted until disposed.
 */
import {
  applyMatrix, conversionMatrix, decodeCurve, encodeCurve, findProfile, PROFILES, PS16_MAX, toSrgb8, type RgbProfile,
} from '../../shared/plugin/color-convert.ts';
import type {
  PsAction, PsApp, PsBounds, PsCore, PsDescriptor, PsDocument, PsExecutionContext, PsGetPixelsOptions, PsImageData, PsImaging,
  PsLayer, PsModule, PsPixelArray, UxpModule,
} from '../../plugins/photoshop/src/uxp-api.ts';

export type Rgba = [number, number, number, number];

export interface FakeLayerInit {
  name: string;
  kind?: 'pixel' | 'group' | 'text';
  visible?: boolean;
  background?: boolean;
  /** Colour (0–1, the document's encoding) at each document pixel; alpha 0 = empty. Omitted = empty. */
  paint?: (x: number, y: number) => Rgba;
  children?: FakeLayerInit[];
  /** A user (pixel) layer mask: its value (0–1, 1 = shown) at each document pixel. Omitted = no mask. */
  userMask?: (x: number, y: number) => number;
}

export interface FakeDocInit {
  title: string;
  width: number;
  height: number;
  mode?: string;
  bitDepth?: 8 | 16 | 32;
  profile?: string;
  /** Top to bottom. */
  layers: FakeLayerInit[];
  active?: string;
  selection?: { x: number; y: number; width: number; height: number; feather?: number } | null;
  /** Alpha channels (saved selections): each value 0–1 at each document pixel. */
  channels?: Array<{ name: string; value: (x: number, y: number) => number }>;
}

/** A saved selection: an alpha channel ("selectedAreas") with its values, document-sized (0–1). */
export interface FakeChannel {
  readonly name: string;
  readonly kind: string;
  readonly data: Float32Array;
}

export interface FakeOptions {
  /** getPixels honours componentSize/colorProfile (real Photoshop does); off = native data back. */
  convertsOnRead?: boolean;
  /** Scaled reads come from pyramid levels (bounds returned in level pixels). */
  pyramid?: boolean;
}

const MODE_STRINGS = { rgb: 'RGBColorMode', cmyk: 'CMYKColorMode', lab: 'labColorMode', grayscale: 'grayscaleMode' } as const;

class PsError extends Error {
  constructor(message: string, readonly number = 8800) {
    super(message);
  }
}

export class FakeImageData implements PsImageData {
  disposed = false;
  readonly colorSpace: string;
  constructor(
    readonly width: number, readonly height: number, readonly components: number, readonly componentSize: 8 | 16 | 32,
    readonly colorProfile: string, private readonly data: PsPixelArray, private readonly world: FakeWorld, colorSpace = 'RGB',
  ) {
    this.colorSpace = colorSpace;
    world.liveImageData++;
  }

  get hasAlpha(): boolean {
    return this.components === 4 || this.components === 2;
  }

  async getData(): Promise<PsPixelArray> {
    if (this.disposed) throw new PsError('imageData was disposed');
    return this.data;
  }

  /** The raw buffer, for the fake itself (no dispose check). */
  raw(): PsPixelArray {
    return this.data;
  }

  dispose(): void {
    if (!this.disposed) this.world.liveImageData--;
    this.disposed = true;
  }
}

export class FakeLayer implements PsLayer {
  readonly layers: FakeLayer[] | null;
  parent: FakeLayer | null = null;
  /** Document-sized RGBA floats in the document's encoding; null for groups. */
  pixels: Float32Array | null;
  xmp: string | null = null;
  /** The user mask, document-sized (0–1), or null when the layer has none. */
  userMask: Float32Array | null = null;
  private _name: string;
  private _visible: boolean;

  constructor(readonly doc: FakeDocument, readonly id: number, name: string, readonly kind: string, visible: boolean, readonly isBackgroundLayer: boolean) {
    this._name = name;
    this._visible = visible;
    this.layers = kind === 'group' ? [] : null;
    this.pixels = kind === 'group' ? null : new Float32Array(doc.width * doc.height * 4);
  }

  get name(): string {
    return this._name;
  }

  set name(v: string) {
    this.doc.world.requireModal('set layer name');
    this._name = v;
    this.doc.record('Rename Layer');
  }

  get visible(): boolean {
    return this._visible;
  }

  set visible(v: boolean) {
    this.doc.world.requireModal('set layer visibility');
    this._visible = v;
    this.doc.record(v ? 'Show Layer' : 'Hide Layer');
  }

  get bounds(): PsBounds {
    return this.boundsNoEffects;
  }

  get boundsNoEffects(): PsBounds {
    const r = this.pixelRect();
    return r ? { left: r.x, top: r.y, right: r.x + r.width, bottom: r.y + r.height } : { left: 0, top: 0, right: 0, bottom: 0 };
  }

  pixelRect(): { x: number; y: number; width: number; height: number } | null {
    const rects = this.layers ? this.layers.map((l) => l.pixelRect()).filter((r) => r !== null) : [];
    if (this.layers) {
      if (!rects.length) return null;
      const x0 = Math.min(...rects.map((r) => r!.x)), y0 = Math.min(...rects.map((r) => r!.y));
      const x1 = Math.max(...rects.map((r) => r!.x + r!.width)), y1 = Math.max(...rects.map((r) => r!.y + r!.height));
      return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
    }
    const { width: w, height: h } = this.doc;
    let x0 = w, y0 = h, x1 = -1, y1 = -1;
    const p = this.pixels!;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      if (p[(y * w + x) * 4 + 3] > 0) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
    return x1 < 0 ? null : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
  }

  /** The layer's siblings list (its group's children or the document's top level). */
  siblings(): FakeLayer[] {
    return this.parent ? this.parent.layers! : this.doc.layers;
  }

  move(relativeObject: PsLayer, insertLocation: string): void {
    this.doc.world.requireModal('move a layer');
    const rel = relativeObject as FakeLayer;
    if (insertLocation !== 'placeBefore') throw new PsError(`fake: placement ${insertLocation} not modelled`);
    const from = this.siblings();
    from.splice(from.indexOf(this), 1);
    const to = rel.siblings();
    to.splice(to.indexOf(rel), 0, this);
    this.parent = rel.parent;
    this.doc.record('Move');
  }

  /** Colour at a document pixel (document encoding), for assertions. */
  pixel(x: number, y: number): Rgba {
    const o = (y * this.doc.width + x) * 4;
    const p = this.pixels!;
    return [p[o], p[o + 1], p[o + 2], p[o + 3]];
  }
}

interface Snapshot {
  selection: Float32Array | null;
  layers: FakeLayer[];
  state: Map<FakeLayer, { name: string; visible: boolean; pixels: Float32Array | null; xmp: string | null; children: FakeLayer[] | null; parent: FakeLayer | null }>;
  active: FakeLayer[];
}

export class FakeDocument implements PsDocument {
  readonly layers: FakeLayer[] = [];
  activeLayers: FakeLayer[] = [];
  readonly history: string[] = [];
  /** Selection amount 0–1 per document pixel, or null. */
  selection: Float32Array | null = null;
  /** The colour channels are not modelled; only alpha channels are listed. */
  readonly channels: FakeChannel[] = [];
  suspended = 0;
  modifiedWhileSuspended = false;
  readonly mode: string;
  readonly bitsPerChannel: string;
  readonly colorProfileName: string;

  constructor(readonly world: FakeWorld, readonly id: number, readonly title: string, readonly width: number, readonly height: number, mode: string, readonly depth: 8 | 16 | 32, readonly profile: string) {
    this.mode = mode;
    this.bitsPerChannel = `bitDepth${depth}`;
    this.colorProfileName = depth === 32 ? `${profile} (Linear RGB Profile)` : profile;
  }

  get rgbProfile(): RgbProfile {
    return findProfile(this.profile) ?? PROFILES[0];
  }

  record(name: string): void {
    if (this.suspended > 0) this.modifiedWhileSuspended = true;
    else this.history.push(name);
    this.world.notify('set');
  }

  all(): FakeLayer[] {
    const out: FakeLayer[] = [];
    const walk = (ls: FakeLayer[]): void => {
      for (const l of ls) {
        out.push(l);
        if (l.layers) walk(l.layers);
      }
    };
    walk(this.layers);
    return out;
  }

  byName(name: string): FakeLayer {
    const l = this.all().find((x) => x.name === name);
    if (!l) throw new Error(`fake: no layer "${name}"`);
    return l;
  }

  byId(id: number): FakeLayer | null {
    return this.all().find((x) => x.id === id) ?? null;
  }

  async createPixelLayer(options: { name?: string } = {}): Promise<FakeLayer | null> {
    this.world.requireModal('create a layer');
    const layer = new FakeLayer(this, this.world.nextId++, options.name ?? 'Layer', 'pixel', true, false);
    // Photoshop adds a new layer above the active one, in its group, and makes it active.
    const anchor = this.activeLayers[0];
    const list = anchor ? anchor.siblings() : this.layers;
    list.splice(anchor ? list.indexOf(anchor) : 0, 0, layer);
    layer.parent = anchor ? anchor.parent : null;
    this.activeLayers = [layer];
    this.record('New Layer');
    return layer;
  }

  /** Quantises to the document's depth, as Photoshop stores it. */
  quantise(v: number): number {
    if (this.depth === 8) return Math.round(Math.min(1, Math.max(0, v)) * 255) / 255;
    if (this.depth === 16) return Math.round(Math.min(1, Math.max(0, v)) * PS16_MAX) / PS16_MAX;
    return v;
  }

  /** Visible layers merged (source-over, in the document's encoding). */
  composite(): Float32Array {
    const out = new Float32Array(this.width * this.height * 4);
    const paint = (ls: FakeLayer[]): void => {
      for (let i = ls.length - 1; i >= 0; i--) {
        const l = ls[i];
        if (!l.visible) continue;
        if (l.layers) {
          paint(l.layers);
          continue;
        }
        const p = l.pixels!;
        for (let j = 0; j < out.length; j += 4) {
          const a = p[j + 3];
          if (a <= 0) continue;
          const da = out[j + 3] * (1 - a);
          const oa = a + da;
          for (let c = 0; c < 3; c++) out[j + c] = (p[j + c] * a + out[j + c] * da) / oa;
          out[j + 3] = oa;
        }
      }
    };
    paint(this.layers);
    return out;
  }

  snapshot(): Snapshot {
    const state: Snapshot['state'] = new Map();
    for (const l of this.all()) state.set(l, { name: l.name, visible: l.visible, pixels: l.pixels ? new Float32Array(l.pixels) : null, xmp: l.xmp, children: l.layers ? [...l.layers] : null, parent: l.parent });
    return { selection: this.selection ? new Float32Array(this.selection) : null, layers: [...this.layers], state, active: [...this.activeLayers] };
  }

  restore(s: Snapshot): void {
    this.selection = s.selection;
    this.layers.splice(0, this.layers.length, ...s.layers);
    for (const [l, st] of s.state) {
      (l as unknown as { _name: string })._name = st.name;
      (l as unknown as { _visible: boolean })._visible = st.visible;
      l.pixels = st.pixels;
      l.xmp = st.xmp;
      l.parent = st.parent;
      if (l.layers && st.children) l.layers.splice(0, l.layers.length, ...st.children);
    }
    this.activeLayers = s.active;
  }
}

export class FakeWorld {
  readonly documents: FakeDocument[] = [];
  active: FakeDocument | null = null;
  nextId = 1;
  liveImageData = 0;
  modalDepth = 0;
  /** Each modal scope: its label and when it started and ended (performance.now()). */
  readonly modalLog: Array<{ label: string; start: number; end: number }> = [];
  readonly secure = new Map<string, Uint8Array>();
  /** What the next file picker returns. */
  nextFile: { name: string; bytes: Uint8Array } | null = null;
  readonly options: Required<FakeOptions>;
  private readonly listeners: Array<(name: string, d: PsDescriptor) => void> = [];
  private suspensions = new Map<number, { doc: FakeDocument; snapshot: Snapshot; name: string }>();
  private nextSuspension = 1;

  constructor(opts: FakeOptions = {}) {
    this.options = { convertsOnRead: opts.convertsOnRead ?? true, pyramid: opts.pyramid ?? true };
  }

  requireModal(what: string): void {
    if (this.modalDepth === 0) throw new PsError(`fake Photoshop: cannot ${what} outside executeAsModal`);
  }

  notify(name: string, descriptor: PsDescriptor = {}): void {
    for (const fn of this.listeners) fn(name, descriptor);
  }

  /**
   * The user paints: a brush stroke fills `rect` of a layer with `color` (0–1, the document's encoding)
   * and becomes a history state, announced the way Photoshop announces every pixel change.
   */
  userPaint(doc: FakeDocument, layerName: string, rect: { x: number; y: number; width: number; height: number }, color: Rgba): void {
    const l = doc.byName(layerName);
    if (!l.pixels) throw new PsError(`fake: ${layerName} has no pixels`);
    for (let y = Math.max(0, rect.y); y < Math.min(doc.height, rect.y + rect.height); y++) for (let x = Math.max(0, rect.x); x < Math.min(doc.width, rect.x + rect.width); x++) {
      const o = (y * doc.width + x) * 4;
      for (let k = 0; k < 3; k++) l.pixels[o + k] = doc.quantise(color[k]);
      l.pixels[o + 3] = doc.depth === 32 ? color[3] : doc.quantise(color[3]);
    }
    doc.history.push('Brush Tool');
    this.notify('historyStateChanged', { documentID: doc.id, name: 'Brush Tool' });
  }

  /** The user draws a new selection (Rectangular Marquee): `set` on the selection channel, then its history state. */
  userSelect(doc: FakeDocument, sel: FakeDocInit['selection']): void {
    this.setSelection(doc, sel);
    doc.history.push('Rectangular Marquee');
    this.notify('set', { _target: [{ _ref: 'channel', _property: 'selection' }] });
    this.notify('historyStateChanged', { documentID: doc.id, name: 'Rectangular Marquee' });
  }

  addDocument(init: FakeDocInit): FakeDocument {
    const doc = new FakeDocument(this, this.nextId++, init.title, init.width, init.height, init.mode ?? MODE_STRINGS.rgb, init.bitDepth ?? 8, init.profile ?? 'sRGB IEC61966-2.1');
    const build = (items: FakeLayerInit[], parent: FakeLayer | null, into: FakeLayer[]): void => {
      for (const it of items) {
        const l = new FakeLayer(doc, this.nextId++, it.name, it.kind ?? (it.children ? 'group' : 'pixel'), it.visible ?? true, it.background ?? false);
        l.parent = parent;
        into.push(l);
        if (it.children) build(it.children, l, l.layers!);
        if (it.userMask) {
          const m = new Float32Array(doc.width * doc.height);
          for (let y = 0; y < doc.height; y++) for (let x = 0; x < doc.width; x++) m[y * doc.width + x] = it.userMask(x, y);
          l.userMask = m;
        }
        if (it.paint && l.pixels) {
          for (let y = 0; y < doc.height; y++) for (let x = 0; x < doc.width; x++) {
            const c = it.paint(x, y);
            const o = (y * doc.width + x) * 4;
            for (let k = 0; k < 3; k++) l.pixels[o + k] = doc.quantise(c[k]);
            l.pixels[o + 3] = doc.depth === 32 ? c[3] : doc.quantise(c[3]);
          }
        }
      }
    };
    build(init.layers, null, doc.layers);
    for (const c of init.channels ?? []) {
      const data = new Float32Array(doc.width * doc.height);
      for (let y = 0; y < doc.height; y++) for (let x = 0; x < doc.width; x++) data[y * doc.width + x] = c.value(x, y);
      doc.channels.push({ name: c.name, kind: 'selectedAreas', data });
    }
    doc.activeLayers = [init.active ? doc.byName(init.active) : doc.layers[0]];
    this.setSelection(doc, init.selection ?? null);
    this.documents.push(doc);
    this.active = doc;
    return doc;
  }

  closeDocument(doc: FakeDocument): void {
    this.documents.splice(this.documents.indexOf(doc), 1);
    if (this.active === doc) this.active = this.documents[0] ?? null;
    this.notify('close');
  }

  /** A rectangular selection, optionally feathered by a linear ramp of `feather` px inside its edge. */
  setSelection(doc: FakeDocument, sel: FakeDocInit['selection']): void {
    if (!sel) {
      doc.selection = null;
      return;
    }
    const m = new Float32Array(doc.width * doc.height);
    const f = sel.feather ?? 0;
    for (let y = sel.y; y < sel.y + sel.height; y++) for (let x = sel.x; x < sel.x + sel.width; x++) {
      if (x < 0 || y < 0 || x >= doc.width || y >= doc.height) continue;
      const edge = Math.min(x - sel.x + 1, y - sel.y + 1, sel.x + sel.width - x, sel.y + sel.height - y);
      m[y * doc.width + x] = f > 0 ? Math.min(1, edge / f) : 1;
    }
    doc.selection = m;
  }

  selectLayer(doc: FakeDocument, name: string): void {
    doc.activeLayers = [doc.byName(name)];
    this.notify('select', { _target: [{ _ref: 'layer', _name: name }] });
  }

  docById(id: number | undefined): FakeDocument {
    const d = id === undefined || id < 0 ? this.active : this.documents.find((x) => x.id === id) ?? null;
    if (!d) throw new PsError(`fake: no document ${id}`);
    return d;
  }

  // ---------------------------------------------------------------- modules

  photoshop(): PsModule {
    return { app: this.app(), core: this.core(), action: this.action(), imaging: this.imaging(), constants: { ElementPlacement: { PLACEBEFORE: 'placeBefore' } } };
  }

  uxp(): UxpModule {
    return {
      storage: {
        secureStorage: {
          getItem: async (k) => this.secure.get(k) ?? null,
          setItem: async (k, v) => void this.secure.set(k, Uint8Array.from(v, (c) => c.charCodeAt(0))),
          removeItem: async (k) => void this.secure.delete(k),
        },
        localFileSystem: {
          getFileForOpening: async () => {
            const f = this.nextFile;
            return f ? { name: f.name, read: async () => f.bytes.buffer.slice(f.bytes.byteOffset, f.bytes.byteOffset + f.bytes.byteLength) } : null;
          },
        },
        formats: { binary: 'binary' },
      },
      entrypoints: { setup: () => undefined },
    };
  }

  private app(): PsApp {
    const world = this;
    return {
      get activeDocument() {
        return world.active;
      },
      get documents() {
        return world.documents;
      },
    };
  }

  private core(): PsCore {
    return {
      executeAsModal: async <T>(fn: (ctx: PsExecutionContext) => Promise<T>, options: { commandName: string }): Promise<T> => {
        if (this.modalDepth > 0) throw new PsError('executeAsModal was rejected: another modal scope is active', 9);
        this.modalDepth++;
        const entry = { label: options.commandName, start: now(), end: 0 };
        this.modalLog.push(entry);
        const open: number[] = [];
        const ctx: PsExecutionContext = {
          isCancelled: false,
          hostControl: {
            suspendHistory: async ({ documentID, name }) => {
              const doc = this.docById(documentID);
              const id = this.nextSuspension++;
              this.suspensions.set(id, { doc, snapshot: doc.snapshot(), name });
              doc.suspended++;
              doc.modifiedWhileSuspended = false;
              open.push(id);
              return id;
            },
            resumeHistory: async (suspension: never, commit = true) => {
              const id = suspension as unknown as number;
              const s = this.suspensions.get(id);
              if (!s) throw new PsError('fake: unknown history suspension');
              this.suspensions.delete(id);
              open.splice(open.indexOf(id), 1);
              s.doc.suspended--;
              if (!commit) s.doc.restore(s.snapshot);
              else if (s.doc.modifiedWhileSuspended) s.doc.history.push(s.name);
              s.doc.modifiedWhileSuspended = false;
            },
          },
        };
        try {
          const out = await fn(ctx);
          for (const id of [...open]) await ctx.hostControl.resumeHistory(id as never, true);
          return out;
        } catch (e) {
          for (const id of [...open]) await ctx.hostControl.resumeHistory(id as never, false);
          throw e;
        } finally {
          this.modalDepth--;
          entry.end = now();
        }
      },
    };
  }

  private action(): PsAction {
    return {
      batchPlay: async (commands) => commands.map((c) => this.play(c)),
      addNotificationListener: async (_events, fn) => void this.listeners.push(fn),
    };
  }

  private play(c: PsDescriptor): PsDescriptor {
    const target = (c._target ?? []) as Array<Record<string, unknown>>;
    const docRef = target.find((t) => t._ref === 'document');
    const layerRef = target.find((t) => t._ref === 'layer');
    const prop = target.find((t) => '_property' in t)?._property;
    const doc = this.docById(docRef?._id as number | undefined);
    if (c._obj === 'get' && prop === 'selection') {
      const b = selectionBounds(doc);
      if (!b) return {};
      const px = (v: number) => ({ _unit: 'pixelsUnit', _value: v });
      return { selection: { _obj: 'rectangle', top: px(b.top), left: px(b.left), bottom: px(b.bottom), right: px(b.right) } };
    }
    const channelRef = target.find((t) => t._ref === 'channel');
    if (c._obj === 'set' && channelRef && prop === 'selection') {
      // Load a saved selection: `to` names the alpha channel.
      this.requireModal('load selection');
      const to = (c.to ?? {}) as Record<string, unknown>;
      const ch = doc.channels.find((x) => x.name === to._name);
      if (to._ref !== 'channel' || !ch) throw new PsError(`fake: no channel ${String(to._name)}`);
      doc.selection = ch.data.some((v) => v > 0) ? new Float32Array(ch.data) : null;
      doc.record('Set Selection');
      return {};
    }
    if (c._obj === 'get' && prop === 'metadata' && layerRef) {
      const l = doc.byId(layerRef._id as number);
      if (!l) throw new PsError('fake: no such layer');
      return l.xmp === null ? {} : { metadata: { _obj: 'metadata', layerXMP: l.xmp } };
    }
    if (c._obj === 'set' && prop === 'XMPMetadataAsUTF8' && layerRef) {
      this.requireModal('set layer metadata');
      const l = doc.byId(layerRef._id as number);
      if (!l) throw new PsError('fake: no such layer');
      l.xmp = String((c.to as Record<string, unknown>).XMPMetadataAsUTF8);
      doc.record('Layer Metadata');
      return {};
    }
    throw new PsError(`fake: descriptor not modelled: ${JSON.stringify(c).slice(0, 200)}`);
  }

  private imaging(): PsImaging {
    return {
      getPixels: async (o) => this.getPixels(o),
      putPixels: async (o) => {
        this.requireModal('putPixels');
        const doc = this.docById(o.documentID);
        const layer = doc.byId(o.layerID);
        if (!layer || !layer.pixels) throw new PsError('putPixels: the target must be a pixel layer');
        const img = o.imageData as FakeImageData;
        if (img.disposed) throw new PsError('putPixels: imageData was disposed');
        const floats = toDocument(img, doc);
        if (o.replace !== false) layer.pixels.fill(0);
        const left = o.targetBounds?.left ?? 0, top = o.targetBounds?.top ?? 0;
        for (let y = 0; y < img.height; y++) for (let x = 0; x < img.width; x++) {
          const dx = left + x, dy = top + y;
          if (dx < 0 || dy < 0 || dx >= doc.width || dy >= doc.height) continue;
          const s = (y * img.width + x) * 4, d = (dy * doc.width + dx) * 4;
          for (let k = 0; k < 3; k++) layer.pixels[d + k] = doc.quantise(floats[s + k]);
          layer.pixels[d + 3] = doc.depth === 32 ? floats[s + 3] : doc.quantise(floats[s + 3]);
        }
        doc.record(o.commandName ?? 'Put Pixels');
      },
      getSelection: async (o) => {
        const doc = this.docById(o.documentID);
        if (!doc.selection) throw new PsError('getSelection: there is no selection');
        const want = o.sourceBounds ?? { left: 0, top: 0, right: doc.width, bottom: doc.height };
        const b = clip(want, doc);
        const w = b.right - b.left, h = b.bottom - b.top;
        const n = w * h;
        const data = doc.depth === 8 ? new Uint8Array(n) : doc.depth === 16 ? new Uint16Array(n) : new Float32Array(n);
        const max = doc.depth === 8 ? 255 : doc.depth === 16 ? PS16_MAX : 1;
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
          const v = doc.selection[(b.top + y) * doc.width + b.left + x];
          data[y * w + x] = doc.depth === 32 ? v : Math.round(v * max);
        }
        return { imageData: new FakeImageData(w, h, 1, doc.depth, 'Gray Gamma 2.2', data, this, 'Grayscale'), sourceBounds: b };
      },
      getLayerMask: async (o) => {
        // Like getSelection, over the user mask; Photoshop throws for a layer without one.
        const doc = this.docById(o.documentID);
        const layer = doc.byId(o.layerID);
        if (!layer) throw new PsError('getLayerMask: no such layer');
        if ((o.kind ?? 'user') !== 'user' || !layer.userMask) throw new PsError('getLayerMask: the layer has no user mask');
        const b = clip(o.sourceBounds ?? { left: 0, top: 0, right: doc.width, bottom: doc.height }, doc);
        const w = b.right - b.left, h = b.bottom - b.top;
        const data = doc.depth === 8 ? new Uint8Array(w * h) : doc.depth === 16 ? new Uint16Array(w * h) : new Float32Array(w * h);
        const max = doc.depth === 8 ? 255 : doc.depth === 16 ? PS16_MAX : 1;
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
          const v = layer.userMask[(b.top + y) * doc.width + b.left + x];
          data[y * w + x] = doc.depth === 32 ? v : Math.round(v * max);
        }
        return { imageData: new FakeImageData(w, h, 1, doc.depth, 'Gray Gamma 2.2', data, this, 'Grayscale'), sourceBounds: b };
      },
      createImageDataFromBuffer: async (data, o) => {
        const size: 8 | 16 | 32 = data instanceof Uint8Array ? 8 : data instanceof Uint16Array ? 16 : 32;
        if (data.length !== o.width * o.height * o.components) throw new PsError(`createImageDataFromBuffer: ${data.length} values for ${o.width}x${o.height}x${o.components}`);
        return new FakeImageData(o.width, o.height, o.components, size, o.colorProfile ?? '', data, this, o.colorSpace);
      },
    };
  }

  private getPixels(o: PsGetPixelsOptions): { imageData: PsImageData; sourceBounds: PsBounds; level: number } {
    const doc = this.docById(o.documentID);
    let src: Float32Array;
    let want = o.sourceBounds ?? { left: 0, top: 0, right: doc.width, bottom: doc.height };
    let hasAlpha = true;
    if (o.layerID !== undefined) {
      const layer = doc.byId(o.layerID);
      if (!layer) throw new PsError('getPixels: no such layer');
      if (!layer.pixels) throw new PsError('getPixels: a group has no pixels of its own');
      const r = layer.pixelRect();
      if (!r) throw new PsError('getPixels: the layer is empty');
      // Photoshop trims the requested area to where the layer has pixels.
      want = intersect(want, { left: r.x, top: r.y, right: r.x + r.width, bottom: r.y + r.height });
      src = layer.pixels;
    } else {
      src = doc.composite();
      hasAlpha = !doc.all().some((l) => l.isBackgroundLayer && l.visible);
    }
    const b = clip(want, doc);
    if (b.right <= b.left || b.bottom <= b.top) throw new PsError('getPixels: nothing to read in the requested bounds');
    let w = b.right - b.left, h = b.bottom - b.top;
    let level = 0;
    let area = b;
    let tw = w, th = h;
    if (o.targetSize) {
      tw = o.targetSize.width ?? Math.round(w * (o.targetSize.height! / h));
      th = o.targetSize.height ?? Math.round(h * (o.targetSize.width! / w));
      if (this.options.pyramid) while (level < 4 && w / 2 ** (level + 1) >= tw && h / 2 ** (level + 1) >= th) level++;
      const k = 2 ** level;
      const lb = { left: Math.floor(b.left / k), top: Math.floor(b.top / k), right: Math.ceil(b.right / k), bottom: Math.ceil(b.bottom / k) };
      area = clip({ left: lb.left * k, top: lb.top * k, right: lb.right * k, bottom: lb.bottom * k }, doc);
      w = area.right - area.left;
      h = area.bottom - area.top;
    }
    // Box-sample `area` to tw×th.
    const out = new Float32Array(tw * th * 4);
    for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) {
      const x0 = area.left + Math.floor((x * w) / tw), x1 = Math.max(x0 + 1, area.left + Math.floor(((x + 1) * w) / tw));
      const y0 = area.top + Math.floor((y * h) / th), y1 = Math.max(y0 + 1, area.top + Math.floor(((y + 1) * h) / th));
      const acc = [0, 0, 0, 0];
      let n = 0;
      for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) {
        const s = (yy * doc.width + xx) * 4;
        const a = src[s + 3];
        acc[0] += src[s] * a; acc[1] += src[s + 1] * a; acc[2] += src[s + 2] * a; acc[3] += a;
        n++;
      }
      const o4 = (y * tw + x) * 4;
      const a = acc[3] / n;
      for (let c = 0; c < 3; c++) out[o4 + c] = acc[3] > 0 ? acc[c] / acc[3] : 0;
      out[o4 + 3] = a;
    }
    const k = 2 ** level;
    const sourceBounds = { left: area.left / k, top: area.top / k, right: area.right / k, bottom: area.bottom / k };
    const comps = hasAlpha ? 4 : 3;
    const wantsConversion = this.options.convertsOnRead && (o.componentSize === 8 || o.colorProfile);
    const native = nativeArray(out, tw * th, comps, doc);
    if (!wantsConversion) {
      return { imageData: new FakeImageData(tw, th, comps, doc.depth, doc.colorProfileName, native, this), sourceBounds, level };
    }
    const rgba = toSrgb8(native, { width: tw, height: th, components: comps, componentSize: doc.depth, profile: doc.rgbProfile });
    let data: Uint8Array = rgba.data;
    if (comps === 3) {
      data = new Uint8Array(tw * th * 3);
      for (let i = 0, j = 0; i < tw * th; i++, j += 3) data.set(rgba.data.subarray(i * 4, i * 4 + 3), j);
    }
    return { imageData: new FakeImageData(tw, th, comps, 8, 'sRGB IEC61966-2.1', data, this), sourceBounds, level };
  }
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

function clip(b: PsBounds, doc: { width: number; height: number }): PsBounds {
  return { left: Math.max(0, Math.floor(b.left)), top: Math.max(0, Math.floor(b.top)), right: Math.min(doc.width, Math.ceil(b.right)), bottom: Math.min(doc.height, Math.ceil(b.bottom)) };
}

function intersect(a: PsBounds, b: PsBounds): PsBounds {
  return { left: Math.max(a.left, b.left), top: Math.max(a.top, b.top), right: Math.min(a.right, b.right), bottom: Math.min(a.bottom, b.bottom) };
}

function selectionBounds(doc: FakeDocument): PsBounds | null {
  if (!doc.selection) return null;
  let x0 = doc.width, y0 = doc.height, x1 = -1, y1 = -1;
  for (let y = 0; y < doc.height; y++) for (let x = 0; x < doc.width; x++) {
    if (doc.selection[y * doc.width + x] > 0) {
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
  }
  return x1 < 0 ? null : { left: x0, top: y0, right: x1 + 1, bottom: y1 + 1 };
}

/** Document-encoded floats → the document's native typed array (3 or 4 components). */
function nativeArray(f: Float32Array, n: number, comps: number, doc: FakeDocument): PsPixelArray {
  const out = doc.depth === 8 ? new Uint8Array(n * comps) : doc.depth === 16 ? new Uint16Array(n * comps) : new Float32Array(n * comps);
  const max = doc.depth === 8 ? 255 : doc.depth === 16 ? PS16_MAX : 1;
  for (let i = 0; i < n; i++) for (let c = 0; c < comps; c++) {
    const v = f[i * 4 + c];
    out[i * comps + c] = doc.depth === 32 ? v : Math.round(Math.min(1, Math.max(0, v)) * max);
  }
  return out;
}

/** imageData (any depth, its own profile) → document-encoded floats, RGBA. */
function toDocument(img: FakeImageData, doc: FakeDocument): Float32Array {
  const data = img.raw();
  const n = img.width * img.height;
  const max = img.componentSize === 8 ? 255 : img.componentSize === 16 ? PS16_MAX : 1;
  const from = findProfile(img.colorProfile) ?? doc.rgbProfile; // "" = the document's profile
  const to = doc.rgbProfile;
  const m = conversionMatrix(from, to);
  const out = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const s = i * img.components;
    let rgb: [number, number, number] = [data[s] / max, data[s + 1] / max, data[s + 2] / max];
    const a = img.components === 4 ? data[s + 3] / max : 1;
    const linearIn = img.componentSize === 32;
    const linearOut = doc.depth === 32;
    if (m || linearIn !== linearOut) {
      const lin = linearIn ? rgb : (rgb.map((v) => decodeCurve(from, v)) as [number, number, number]);
      const conv = m ? applyMatrix(m, lin) : lin;
      rgb = linearOut ? conv : (conv.map((v) => encodeCurve(to, Math.min(1, Math.max(0, v)))) as [number, number, number]);
    }
    out.set([rgb[0], rgb[1], rgb[2], a], i * 4);
  }
  return out;
}
