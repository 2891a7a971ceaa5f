/**
 * The small host interface the panel uses (its UXP implementation: host.ts). Everything that is not a
 * Photoshop call — sizes, masks, colour, compositing — lives in shared/plugin/.
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
import type { Gray8, Rgba8 } from '../../../shared/plugin/raster.ts';
import type { Rect, Size } from '../../../shared/plugin/region.ts';

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
  /** A layer's user mask over `rect` (a regional image prompt); null when the layer has no layer mask. */
  readLayerMask(docId: number, layerId: number, rect: Rect): Promise<SelectionRead | null>;
  /** A saved selection (alpha channel) over `rect`; null when there is no such channel or it selects nothing there. */
  readChannelMask(docId: number, channelName: string, rect: Rect): Promise<SelectionRead | null>;
  insertLayer(req: InsertRequest): Promise<number>;
  /** Live mode's layer: `req.image` written over the whole of layer `layerId` (replacing its pixels). */
  updateLayer(layerId: number, req: InsertRequest): Promise<void>;
  /** Renames a layer and stores `record` in its XMP (a live layer becoming a result). */
  finishLayer(docId: number, layerId: number, name: string, record: string): Promise<void>;
}

/** A user's edit, as live mode needs it: pixels changed, the selection changed, another layer made active. */
export interface DocEdit {
  kind: 'pixels' | 'selection' | 'layer';
  /** The Photoshop event it came from ("historyStateChanged", "set", "select"). */
  event: string;
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
  /** Names of the document's alpha channels (saved selections). */
  alphaChannels(docId: number): string[];
  /** Runs `fn` in a modal scope; with `history`, all its changes become one history step. */
  modal<T>(label: string, fn: (scope: ModalScope) => Promise<T>, history?: { docId: number; name: string }): Promise<T>;
  readLayerRecord(docId: number, layerId: number): Promise<string | null>;
  /** Document switched, layers or selection changed (debounce in the caller). */
  onDocumentChange(fn: () => void): void;
  /** The user's edits (not the panel's own reads and writes), for live mode; debounce in the caller. */
  onDocumentEdit(fn: (e: DocEdit) => void): void;
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

