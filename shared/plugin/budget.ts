/**
 * Pixel-budget maths for plugins: at what scale to export a layer/node so the daemon gets enough pixels
 * but never more than it accepts, and the generation size for text-only jobs. Pure functions, no host APIs.
 */

export interface Size {
  width: number;
  height: number;
}

export interface ExportBudget {
  /** Most pixels (width × height) the exported image may have. */
  maxPixels: number;
  /** Longest side the exported image may have (Figma image fills stop at 4096). */
  maxSide: number;
  /** Bounds for the scale itself (hosts refuse absurd export scales). */
  minScale?: number;
  maxScale?: number;
}

/** Figma's and Photoshop's largest image side worth sending or inserting. */
export const MAX_IMAGE_SIDE = 4096;
export const DEFAULT_MIN_SCALE = 1 / 64;
export const DEFAULT_MAX_SCALE = 16;

/** Pixel size of an export at `scale`; hosts round to whole pixels, at least 1. */
export function scaledSize(size: Size, scale: number): Size {
  return { width: Math.max(1, Math.round(size.width * scale)), height: Math.max(1, Math.round(size.height * scale)) };
}

/**
 * The export scale that fills the budget: as many pixels as `maxPixels` allows (small nodes are rendered
 * larger, which keeps vector sources crisp; big ones smaller), with neither side over `maxSide`.
 * The result, rounded as hosts round, always fits.
 */
export function exportScale(size: Size, budget: ExportBudget): number {
  const w = Math.max(size.width, 1e-6);
  const h = Math.max(size.height, 1e-6);
  const lo = budget.minScale ?? DEFAULT_MIN_SCALE;
  const hi = budget.maxScale ?? DEFAULT_MAX_SCALE;
  let s = Math.min(Math.sqrt(budget.maxPixels / (w * h)), budget.maxSide / Math.max(w, h), hi);
  s = Math.max(s, lo);
  // Rounding can push a side or the area one pixel over: step down until the rounded size fits.
  for (let i = 0; i < 64 && !fits(scaledSize(size, s), budget) && s > lo; i++) s *= 0.999;
  return s;
}

export function fits(size: Size, budget: Pick<ExportBudget, 'maxPixels' | 'maxSide'>): boolean {
  return size.width * size.height <= budget.maxPixels && size.width <= budget.maxSide && size.height <= budget.maxSide;
}

/**
 * A generation size for an area of `size` when no init image is sent: the same aspect ratio at about
 * `targetPixels`, never over `maxPixels`, sides multiples of 8 and at least 64 (the daemon's rules).
 */
export function generationSize(size: Size, targetPixels: number, maxPixels: number, multiple = 8): Size {
  const w = Math.max(size.width, 1);
  const h = Math.max(size.height, 1);
  // Extreme aspect ratios would put one side under 64: clamp the ratio first.
  const aspect = Math.min(Math.max(w / h, 1 / 8), 8);
  const area = Math.min(targetPixels, maxPixels);
  let gw = Math.max(64, Math.round(Math.sqrt(area * aspect) / multiple) * multiple);
  let gh = Math.max(64, Math.round(Math.sqrt(area / aspect) / multiple) * multiple);
  while (gw * gh > maxPixels && (gw > 64 || gh > 64)) {
    if (gw >= gh) gw -= multiple;
    else gh -= multiple;
  }
  return { width: gw, height: gh };
}
