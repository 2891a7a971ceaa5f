/**
 * Regional image prompts in the plugins: the mask that limits where one reference acts
 * (`references[i].mask`, a `reference-mask` frame). The daemon wants it at the init's size (it cuts it to
 * the generated region like the init) or, without an init, with the output's aspect (±2 %). So a mask is
 * always built at the size of the image it goes with: the init's read size, else the generation size.
 * White (≥ 128) = the reference acts there. Pure, no host APIs.
 */
import { blankGray, type Gray8 } from './raster.ts';
import type { Rect, Size } from './region.ts';
import { selectionToMask } from './selection-mask.ts';

/** The size a reference mask is sent at: the init's (read) size with an init, else the generation size. */
export function referenceMaskSize(hasInit: boolean, read: Size, generation: Size): Size {
  return hasInit ? { width: read.width, height: read.height } : { width: generation.width, height: generation.height };
}

/**
 * A mask read from the editor (a layer mask or a saved selection: one 8-bit channel covering `maskDoc` in
 * document pixels, at any scale) placed into the job's region at `size`, the way the selection becomes
 * the inpaint mask. Outside what was read the reference does not act (0).
 */
export function regionalMask(mask: Gray8, maskDoc: Rect, region: Rect, size: Size): Gray8 {
  return selectionToMask(mask, maskDoc, region, size);
}

/** Whether the daemon would accept it: some byte ≥ 128 (a mask that selects nothing is refused). */
export function selectsSomething(mask: Gray8): boolean {
  for (let i = 0; i < mask.data.length; i++) if (mask.data[i] >= 128) return true;
  return false;
}

/** A region node's shape on the target, as fractions of the target's box (0–1; may reach outside). */
export interface RegionShape {
  x: number;
  y: number;
  width: number;
  height: number;
  /** Ellipses are drawn as ellipses; everything else as its bounding box. */
  shape: 'rect' | 'ellipse';
}

/** Where a node lies on the target, as a RegionShape: both rects in the same (absolute) coordinates. */
export function regionShapeOn(node: Rect, target: Rect, shape: RegionShape['shape']): RegionShape {
  const w = Math.max(target.width, 1e-9);
  const h = Math.max(target.height, 1e-9);
  return { x: (node.x - target.x) / w, y: (node.y - target.y) / h, width: node.width / w, height: node.height / h, shape };
}

/** The shape rasterized at `size`: 255 inside (pixel centres), 0 outside. */
export function shapeMask(r: RegionShape, size: Size): Gray8 {
  const out = blankGray(size.width, size.height, 0);
  const x0 = r.x * size.width, y0 = r.y * size.height, x1 = (r.x + r.width) * size.width, y1 = (r.y + r.height) * size.height;
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2, rx = (x1 - x0) / 2, ry = (y1 - y0) / 2;
  const ys = Math.max(0, Math.floor(y0)), ye = Math.min(size.height, Math.ceil(y1));
  const xs = Math.max(0, Math.floor(x0)), xe = Math.min(size.width, Math.ceil(x1));
  for (let y = ys; y < ye; y++) {
    const py = y + 0.5;
    if (py < y0 || py > y1) continue;
    for (let x = xs; x < xe; x++) {
      const px = x + 0.5;
      if (px < x0 || px > x1) continue;
      if (r.shape === 'ellipse' && rx > 0 && ry > 0 && ((px - cx) / rx) ** 2 + ((py - cy) / ry) ** 2 > 1) continue;
      out.data[y * size.width + x] = 255;
    }
  }
  return out;
}
