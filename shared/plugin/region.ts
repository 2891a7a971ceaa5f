/**
 * Bounds maths for editor plugins: document rectangles, selection padding, Photoshop pyramid levels, the
 * generation/read sizes under the daemon's pixel budget, and where document pixels land in a read image.
 * Pure functions, no host APIs.
 */
import { generationSize, type Size } from './budget.ts';

export type { Size };

/** A rectangle in document pixels (x/y of the top-left corner; width/height ≥ 0). */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Photoshop's bounds: right and bottom are exclusive (`{left:0,right:10}` is ten pixels). */
export interface Bounds {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** Bounds → rect, widened to whole pixels (layer bounds can be fractional after transforms). */
export function boundsToRect(b: Bounds): Rect {
  const x = Math.floor(b.left);
  const y = Math.floor(b.top);
  return { x, y, width: Math.max(0, Math.ceil(b.right) - x), height: Math.max(0, Math.ceil(b.bottom) - y) };
}

export function rectToBounds(r: Rect): Bounds {
  return { left: r.x, top: r.y, right: r.x + r.width, bottom: r.y + r.height };
}

export function isEmptyRect(r: Rect | null | undefined): boolean {
  return !r || r.width <= 0 || r.height <= 0;
}

export function intersectRect(a: Rect, b: Rect): Rect | null {
  const x = Math.max(a.x, b.x);
  const y = Math.max(a.y, b.y);
  const r = Math.min(a.x + a.width, b.x + b.width);
  const btm = Math.min(a.y + a.height, b.y + b.height);
  return r > x && btm > y ? { x, y, width: r - x, height: btm - y } : null;
}

/** Grows `r` by `pad` on every side, clipped to the canvas. */
export function padRect(r: Rect, pad: number, canvas: Size): Rect {
  const x = Math.max(0, r.x - pad);
  const y = Math.max(0, r.y - pad);
  return { x, y, width: Math.min(canvas.width, r.x + r.width + pad) - x, height: Math.min(canvas.height, r.y + r.height + pad) - y };
}

export function sameRect(a: Rect, b: Rect): boolean {
  return a.x === b.x && a.y === b.y && a.width === b.width && a.height === b.height;
}

/**
 * `getPixels` with a `targetSize` may read from a cached pyramid level; the bounds it returns are then in
 * that level's pixels (level n = 1/2ⁿ of full resolution). This maps them back to document pixels.
 */
export function levelBoundsToDocument(b: Bounds, level: number): Rect {
  const k = 2 ** Math.max(0, Math.floor(level));
  return boundsToRect({ left: b.left * k, top: b.top * k, right: b.right * k, bottom: b.bottom * k });
}

export type RegionMode = 'canvas' | 'inpaint' | 'img2img';

export type RegionChoice = { ok: true; region: Rect; selection: Rect | null } | { ok: false; reason: string };

/**
 * Context around a selection for inpainting: the model needs to see what surrounds the hole, and a fixed
 * 32 px is nothing on a 6000 px photo. `padding` < 0 means automatic: 20% of the larger side, 32–512 px.
 */
export function contextPadding(selection: Rect, padding: number): number {
  if (padding >= 0) return Math.round(padding);
  return Math.round(Math.min(512, Math.max(32, 0.2 * Math.max(selection.width, selection.height))));
}

/**
 * The document area a job reads and writes: the canvas, or the selection's bounds (plus context padding
 * for inpainting). A selection partly off-canvas is clipped to it.
 */
export function chooseRegion(mode: RegionMode, canvas: Size, selection: Rect | null, padding = -1): RegionChoice {
  const whole: Rect = { x: 0, y: 0, width: canvas.width, height: canvas.height };
  const sel = selection ? intersectRect(selection, whole) : null;
  if (selection && !sel) return { ok: false, reason: 'The selection lies outside the canvas.' };
  switch (mode) {
    case 'canvas':
      return { ok: true, region: whole, selection: sel };
    case 'img2img':
      return { ok: true, region: sel ?? whole, selection: sel };
    case 'inpaint':
      if (!sel) return { ok: false, reason: 'Selection fill needs a selection: select the area to repaint first (any selection tool; feathered edges are kept).' };
      return { ok: true, region: padRect(sel, contextPadding(sel, padding), canvas), selection: sel };
  }
}

export interface SizePlan {
  /** Document area to read and to fill. */
  region: Rect;
  /** What the model generates at (multiples of 8, within the daemon's budget). */
  generation: Size;
  /**
   * Size of the images sent (init, mask, control) and so of the returned result: the region itself when
   * it is no bigger than the generation, else exactly the generation size, so neither side resamples twice.
   */
  read: Size;
}

/**
 * `targetPixels` is the panel's size setting (≈512² for SD1.5), `maxPixels` the daemon's budget from
 * the handshake. Big regions are read downscaled (Photoshop does it from its pyramid, so a 100 MP
 * document costs no more than a 1 MP one) and the result is scaled back on insert.
 */
export function planSizes(region: Rect, targetPixels: number, maxPixels: number): SizePlan {
  const generation = generationSize(region, targetPixels, maxPixels);
  const small = region.width <= generation.width && region.height <= generation.height;
  const read = small ? { width: region.width, height: region.height } : { ...generation };
  return { region, generation, read };
}

/**
 * Where a document-space rect lands in an image of `read` size that shows `region` (fractional: callers
 * round edges, not sizes, so adjacent pieces meet exactly).
 */
export function placeInRead(doc: Rect, region: Rect, read: Size): Rect {
  const sx = read.width / region.width;
  const sy = read.height / region.height;
  return { x: (doc.x - region.x) * sx, y: (doc.y - region.y) * sy, width: doc.width * sx, height: doc.height * sy };
}

/** The read size for a source rect shown at the plan's scale (for asking the host to downscale). */
export function scaledSize(doc: Rect, region: Rect, read: Size): Size {
  const p = placeInRead(doc, region, read);
  return { width: Math.max(1, Math.round(p.width)), height: Math.max(1, Math.round(p.height)) };
}

/** Fits a size inside `maxSide` × `maxSide` and `maxPixels`, keeping the aspect ratio; never enlarges. */
export function fitWithin(size: Size, maxSide: number, maxPixels = Infinity): Size {
  const k = Math.min(1, maxSide / Math.max(size.width, size.height), Math.sqrt(maxPixels / Math.max(1, size.width * size.height)));
  return { width: Math.max(1, Math.floor(size.width * k)), height: Math.max(1, Math.floor(size.height * k)) };
}
