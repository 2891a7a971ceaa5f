/**
 * A small hand-written stand-in for Figma's `figma` global: a page of nodes with plugin data, fills,
 * geometry, clone/resize, clientStorage, images, and `exportAsync` rendering real PNG bytes with sharp
 * (a node exports as its topmost visible solid fill, or magenta where a visible IMAGE fill covers it, so
 * tests can tell whether a generated image was part of an export). Only what the sandbox uses.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { FigmaApi } from '../../plugins/figma/src/nodes.ts';

export type Rgb = { r: number; g: number; b: number };

/** What an IMAGE fill renders as in exports. */
export const IMAGE_MARKER: [number, number, number] = [255, 0, 255];

let nextId = 1;

export interface ExportCall {
  nodeId: string;
  settings: ExportSettingsImage;
  width: number;
  height: number;
  fills: readonly Paint[];
}

export class FakeNode {
  readonly id: string;
  name: string;
  x = 0;
  y = 0;
  width: number;
  height: number;
  fills: readonly Paint[] = [];
  parent: FakeNode | FakePage | null = null;
  readonly children: FakeNode[] = [];
  removed = false;
  visible = true;
  readonly pluginData = new Map<string, string>();

  constructor(readonly figma: FakeFigma, readonly type: string, name: string, width: number, height: number) {
    this.id = `${nextId++}:1`;
    this.name = name;
    this.width = width;
    this.height = height;
    figma.registry.set(this.id, this);
    if (type !== 'GROUP' && type !== 'TEXT') this.fills = [{ type: 'SOLID', color: { r: 1, g: 1, b: 1 } }];
  }

  get absoluteBoundingBox(): { x: number; y: number; width: number; height: number } {
    let x = this.x, y = this.y;
    for (let p = this.parent; p instanceof FakeNode; p = p.parent) {
      x += p.x;
      y += p.y;
    }
    return { x, y, width: this.width, height: this.height };
  }

  getPluginData(key: string): string {
    return this.pluginData.get(key) ?? '';
  }

  setPluginData(key: string, value: string): void {
    if (typeof value !== 'string') throw new TypeError('plugin data must be a string');
    if (value === '') this.pluginData.delete(key);
    else this.pluginData.set(key, value);
  }

  appendChild(n: FakeNode): void {
    n.detach();
    n.parent = this;
    this.children.push(n);
  }

  resize(w: number, h: number): void {
    if (!(w >= 0.01 && h >= 0.01)) throw new Error(`resize(${w}, ${h}): too small`);
    this.width = w;
    this.height = h;
  }

  /** Like Figma: the copy goes under the current page, plugin data and fills included. */
  clone(): FakeNode {
    const c = new FakeNode(this.figma, this.type, this.name, this.width, this.height);
    c.x = this.absoluteBoundingBox.x;
    c.y = this.absoluteBoundingBox.y;
    c.fills = this.fills.map((p) => ({ ...p }));
    for (const [k, v] of this.pluginData) c.pluginData.set(k, v);
    this.figma.currentPage.appendChild(c);
    return c;
  }

  remove(): void {
    this.detach();
    this.removed = true;
  }

  private detach(): void {
    const p = this.parent;
    if (!p) return;
    const i = p.children.indexOf(this);
    if (i >= 0) p.children.splice(i, 1);
    this.parent = null;
  }

  /** Renders the node as a flat colour at the requested scale: real PNG bytes from sharp. */
  async exportAsync(settings: ExportSettingsImage): Promise<Uint8Array> {
    if (settings.format !== 'PNG') throw new Error(`fake exports PNG only, got ${settings.format}`);
    const c = settings.constraint;
    const scale = c?.type === 'SCALE' ? c.value : c?.type === 'WIDTH' ? c.value / this.width : c?.type === 'HEIGHT' ? c.value / this.height : 1;
    const width = Math.max(1, Math.round(this.width * scale));
    const height = Math.max(1, Math.round(this.height * scale));
    if (width > 16384 || height > 16384) throw new Error(`export ${width}x${height} too large`);
    this.figma.exports.push({ nodeId: this.id, settings, width, height, fills: this.fills });
    const [r, g, b] = this.renderColor();
    const png = await sharp({ create: { width, height, channels: 4, background: { r, g, b, alpha: 1 } } }).png().toBuffer();
    return new Uint8Array(png);
  }

  renderColor(): [number, number, number] {
    for (let i = this.fills.length - 1; i >= 0; i--) {
      const p = this.fills[i];
      if (p.visible === false) continue;
      if (p.type === 'IMAGE') return IMAGE_MARKER;
      if (p.type === 'SOLID') return [Math.round(p.color.r * 255), Math.round(p.color.g * 255), Math.round(p.color.b * 255)];
    }
    return [0, 0, 0];
  }
}

let nextPage = 1;

export class FakePage {
  readonly type = 'PAGE';
  readonly id = `0:${nextPage++}`;
  name = 'Page 1';
  readonly parent = null;
  readonly children: FakeNode[] = [];
  private sel: FakeNode[] = [];

  constructor(private readonly figma: FakeFigma) {}

  get selection(): FakeNode[] {
    return this.sel;
  }

  set selection(nodes: FakeNode[]) {
    this.sel = [...nodes];
  }

  appendChild(n: FakeNode): void {
    if (n.parent) {
      const i = n.parent.children.indexOf(n);
      if (i >= 0) n.parent.children.splice(i, 1);
    }
    n.parent = this;
    this.children.push(n);
  }

  /** PageNode.on('nodechange'): the page's node changes, delivered after the change like Figma does (async). */
  readonly nodeChangeHandlers: Array<(e: { nodeChanges: Array<{ type: string; id: string; node: FakeNode; origin: 'LOCAL' | 'REMOTE'; properties?: string[] }> }) => void> = [];

  on(event: string, fn: (e: never) => void): void {
    if (event === 'nodechange') this.nodeChangeHandlers.push(fn as (typeof this.nodeChangeHandlers)[number]);
  }

  off(event: string, fn: (e: never) => void): void {
    const i = this.nodeChangeHandlers.indexOf(fn as (typeof this.nodeChangeHandlers)[number]);
    if (event === 'nodechange' && i >= 0) this.nodeChangeHandlers.splice(i, 1);
  }
}

export class FakeFigma {
  readonly mixed = Symbol('mixed');
  readonly registry = new Map<string, FakeNode>();
  currentPage = new FakePage(this);
  readonly root = { id: '0:0', type: 'DOCUMENT', pluginData: new Map<string, string>(),
    getPluginData(k: string): string { return this.pluginData.get(k) ?? ''; },
    setPluginData(k: string, v: string): void { this.pluginData.set(k, v); } };
  readonly images = new Map<string, Uint8Array>();
  readonly exports: ExportCall[] = [];
  readonly notices: Array<{ message: string; error: boolean }> = [];
  readonly storage = new Map<string, unknown>();
  readonly posted: unknown[] = [];
  readonly scrolledTo: string[][] = [];
  undoCommits = 0;
  shownUI: { html: string; options: ShowUIOptions | undefined } | null = null;
  private selectionHandlers: Array<() => void> = [];
  private postListeners: Array<(m: unknown) => void> = [];

  readonly ui = {
    onmessage: undefined as ((msg: unknown) => void) | undefined,
    postMessage: (m: unknown): void => {
      // Figma structured-clones messages: Uint8Array stays Uint8Array, functions would throw.
      const copy = structuredClone(m);
      this.posted.push(copy);
      for (const fn of this.postListeners) fn(copy);
    },
  };

  readonly clientStorage = {
    getAsync: async (key: string): Promise<unknown> => structuredClone(this.storage.get(key)),
    setAsync: async (key: string, value: unknown): Promise<void> => void this.storage.set(key, structuredClone(value)),
  };

  readonly viewport = {
    scrollAndZoomIntoView: (nodes: ReadonlyArray<{ id: string }>): void => void this.scrolledTo.push(nodes.map((n) => n.id)),
  };

  showUI(html: string, options?: ShowUIOptions): void {
    this.shownUI = { html, options };
  }

  on(event: string, fn: () => void): void {
    if (event === 'selectionchange') this.selectionHandlers.push(fn);
  }

  async getNodeByIdAsync(id: string): Promise<FakeNode | null> {
    const n = this.registry.get(id);
    return n && !n.removed ? n : null;
  }

  createImage(bytes: Uint8Array): { hash: string } {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('createImage needs a Uint8Array');
    const hash = createHash('sha1').update(bytes).digest('hex');
    this.images.set(hash, bytes);
    return { hash };
  }

  createRectangle(): FakeNode {
    const r = new FakeNode(this, 'RECTANGLE', 'Rectangle', 100, 100);
    r.fills = [{ type: 'SOLID', color: { r: 0.85, g: 0.85, b: 0.85 } }];
    this.currentPage.appendChild(r);
    return r;
  }

  async setCurrentPageAsync(page: FakePage): Promise<void> {
    this.currentPage = page;
  }

  commitUndo(): void {
    this.undoCommits++;
  }

  notify(message: string, options?: NotificationOptions): void {
    this.notices.push({ message, error: options?.error === true });
  }

  // ------------------------------------------------------------ test helpers

  /** A node on the page (or inside `parent`) with a solid fill of `color`. */
  add(type: string, name: string, rect: { x: number; y: number; width: number; height: number }, color?: Rgb, parent?: FakeNode | FakePage): FakeNode {
    const n = new FakeNode(this, type, name, rect.width, rect.height);
    n.x = rect.x;
    n.y = rect.y;
    if (color) n.fills = [{ type: 'SOLID', color }];
    if (parent) parent.appendChild(n);
    else this.currentPage.appendChild(n);
    return n;
  }

  /** The user edits `node` on the canvas (`change` mutates it); the page reports it as a nodechange. */
  userEdit(node: FakeNode, properties: string[], change: (n: FakeNode) => void): void {
    change(node);
    const page = this.currentPage;
    setTimeout(() => {
      for (const fn of [...page.nodeChangeHandlers]) fn({ nodeChanges: [{ type: 'PROPERTY_CHANGE', id: node.id, node, origin: 'LOCAL', properties }] });
    }, 0);
  }

  select(...nodes: FakeNode[]): void {
    this.currentPage.selection = nodes;
    for (const fn of this.selectionHandlers) fn();
  }

  onPost(fn: (m: unknown) => void): void {
    this.postListeners.push(fn);
  }

  /** What the UI would receive: `figma.ui.onmessage` called like Figma does. */
  deliver(msg: unknown): void {
    this.ui.onmessage?.(structuredClone(msg));
  }

  /** The sandbox sees the fake through the plugin API's types. */
  asApi(): FigmaApi {
    return this as unknown as FigmaApi;
  }
}
