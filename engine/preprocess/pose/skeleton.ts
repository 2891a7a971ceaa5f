/**
 * Is this layer already an OpenPose skeleton? Then "pose-detect" passes it through instead of running
 * DWPose on a drawing of a pose. A skeleton is mostly black, and nearly everything that is not black is a
 * saturated palette colour (limbs at 60 %, joints at 100 %, blended at their edges by resizing) or white
 * (face dots). Photos, even dark ones, have many unsaturated mid-tones.
 */
import type { RgbaImage } from '../../api.ts';

export interface SkeletonHeuristics {
  /** Minimum fraction of (near-)black pixels. */
  readonly minBlack: number;
  /** Minimum fraction of the non-black pixels that are saturated or white. */
  readonly minStroke: number;
}

export const SKELETON_HEURISTICS: SkeletonHeuristics = { minBlack: 0.6, minStroke: 0.85 };

export function looksLikeSkeleton(img: RgbaImage, h: SkeletonHeuristics = SKELETON_HEURISTICS): boolean {
  const n = img.width * img.height;
  if (n === 0) return false;
  let black = 0, saturated = 0, white = 0;
  const d = img.data;
  for (let i = 0; i < n; i++) {
    const a = d[i * 4 + 3] / 255;
    // Transparent areas of a skeleton layer count as black background.
    const r = d[i * 4] * a, g = d[i * 4 + 1] * a, b = d[i * 4 + 2] * a;
    const max = Math.max(r, g, b), min = Math.min(r, g, b);
    if (max < 24) black++;
    else if (max - min >= 0.6 * max) saturated++;
    else if (min >= 200) white++;
  }
  const other = n - black;
  if (black / n < h.minBlack) return false;
  // An all-black layer is an empty skeleton (no people), not a photo.
  // Mostly coloured strokes: white-on-black (a canny map) is not a skeleton.
  return other === 0 || ((saturated + white) / other >= h.minStroke && saturated >= white);
}
