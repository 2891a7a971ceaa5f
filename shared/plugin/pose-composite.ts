/**
 * Control layers (an OpenPose skeleton drawn on a transparent layer, a depth map, a photo for canny):
 * the layer's pixels, read with the document bounds the editor reported, composited onto a black canvas
 * covering the job's region at the read size. A skeleton layer smaller than the region keeps its place,
 * so the pose lands where it was drawn. Pure, no host APIs.
 */
import { blankRgba, drawRgba, type Rgba8 } from './raster.ts';
import { placeInRead, type Rect, type Size } from './region.ts';

export function composeControl(layer: Rgba8 | null, layerDoc: Rect | null, region: Rect, read: Size): Rgba8 {
  const canvas = blankRgba(read.width, read.height, [0, 0, 0, 255]);
  if (!layer || !layerDoc || layerDoc.width <= 0 || layerDoc.height <= 0) return canvas;
  return drawRgba(canvas, layer, placeInRead(layerDoc, region, read));
}

/** True when nothing was drawn (an empty or fully off-region control layer): worth telling the user. */
export function isBlank(img: Rgba8): boolean {
  const d = img.data;
  for (let i = 0; i < d.length; i += 4) if (d[i] | d[i + 1] | d[i + 2]) return false;
  return true;
}
