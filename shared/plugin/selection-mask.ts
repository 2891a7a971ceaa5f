/**
 * Selection → inpaint mask: a selection read from the editor (one 8-bit channel covering `selDoc` in
 * document pixels, at any scale) placed into the job's region at the read size. Unselected = 0 (keep),
 * selected = 255 (repaint); feathered edges keep their grey levels. Pure, no host APIs.
 */
import { blankGray, drawGray, type Gray8 } from './raster.ts';
import { placeInRead, type Rect, type Size } from './region.ts';

/** The mask the daemon gets (`read` size) or the layer alpha (pass the region's own size as `read`). */
export function selectionToMask(sel: Gray8, selDoc: Rect, region: Rect, read: Size): Gray8 {
  const out = blankGray(read.width, read.height, 0);
  if (sel.width === 0 || sel.height === 0 || selDoc.width <= 0 || selDoc.height <= 0) return out;
  return drawGray(out, sel, placeInRead(selDoc, region, read));
}

/**
 * The inpaint mask the daemon gets for a selection fill: all that the selection reaches, even partly, is
 * repainted in full. The soft edge is applied once, by the result layer's alpha (the selection itself),
 * which also keeps it editable and lets a regenerate read it back; the engine blending it as well would
 * square the feather (alpha × mask).
 */
export function repaintMask(mask: Gray8): Gray8 {
  return { width: mask.width, height: mask.height, data: mask.data.map((v) => (v > 0 ? 255 : 0)) };
}

export interface MaskStats {
  /** Bounding box of the pixels above `threshold`, in mask pixels; null when nothing is selected. */
  bounds: Rect | null;
  /** Share of the mask's pixels above the threshold (0–1). */
  coverage: number;
}

export function maskStats(mask: Gray8, threshold = 0): MaskStats {
  let x0 = mask.width, y0 = mask.height, x1 = -1, y1 = -1, count = 0;
  for (let y = 0; y < mask.height; y++) {
    const row = y * mask.width;
    for (let x = 0; x < mask.width; x++) {
      if (mask.data[row + x] > threshold) {
        count++;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  const bounds = x1 < 0 ? null : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
  return { bounds, coverage: mask.data.length ? count / mask.data.length : 0 };
}
