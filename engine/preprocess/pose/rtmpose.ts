/**
 * RTMPose-style top-down whole-body estimation as DWPose runs dw-ll_ucoco_384.onnx:
 * - input `input` [1, 3, 384, 288] (H x W), per box: centre/size of the box, size × 1.25, widened or
 *   heightened to the input's 288:384 aspect, an affine crop (no rotation) mapping the box centre to the
 *   input centre and the box width to 288 px (cv2.warpAffine, bilinear, black border), then
 *   (x − mean) / std with mean (123.675, 116.28, 103.53), std (58.395, 57.12, 57.375) per channel in the
 *   order given (RGB, as the annotators pass it);
 * - outputs `simcc_x` [1, 133, 576] and `simcc_y` [1, 133, 768]: SimCC classification vectors with
 *   split ratio 2 (two bins per input pixel). Location = argmax / 2, score = min(max_x, max_y),
 *   location −1 where the score ≤ 0; back to the image by the inverse crop.
 */
import type { Affine } from './resample.ts';
import { warpAffineRgb } from './resample.ts';
import type { Box } from './types.ts';

export const RTMPOSE_INPUT_W = 288;
export const RTMPOSE_INPUT_H = 384;
export const RTMPOSE_PADDING = 1.25;
export const SIMCC_SPLIT_RATIO = 2;
export const RTMPOSE_MEAN: readonly [number, number, number] = [123.675, 116.28, 103.53];
export const RTMPOSE_STD: readonly [number, number, number] = [58.395, 57.12, 57.375];

export interface CenterScale {
  readonly cx: number;
  readonly cy: number;
  /** Box size (width, height) in image pixels after padding / aspect fixing. */
  readonly sw: number;
  readonly sh: number;
}

/** bbox_xyxy2cs: centre and padded size of a box. */
export function boxToCenterScale(box: Box, padding = RTMPOSE_PADDING): CenterScale {
  return { cx: (box.x1 + box.x2) * 0.5, cy: (box.y1 + box.y2) * 0.5, sw: (box.x2 - box.x1) * padding, sh: (box.y2 - box.y1) * padding };
}

/** _fix_aspect_ratio: grow the shorter side so that sw / sh = aspect (input width / height). */
export function fixAspectRatio(cs: CenterScale, aspect: number): CenterScale {
  return cs.sw > cs.sh * aspect ? { ...cs, sh: cs.sw / aspect } : { ...cs, sw: cs.sh * aspect };
}

/** The crop's affine (image → input): uniform scale inW / sw, box centre → input centre. */
export function cropMatrix(cs: CenterScale, inW: number, inH: number): Affine {
  const s = inW / cs.sw;
  return [s, 0, inW / 2 - s * cs.cx, 0, s, inH / 2 - s * cs.cy];
}

export interface PoseCrop {
  /** [1, 3, inH, inW] planar float32, mean/std normalised. */
  readonly tensor: Float32Array;
  /** The aspect-fixed centre/scale used, for mapping the keypoints back. */
  readonly cs: CenterScale;
}

/** Crops one box out of interleaved RGB (w x h) into the pose model's input tensor. */
export function cropForPose(rgb: Uint8Array, w: number, h: number, box: Box, inW = RTMPOSE_INPUT_W, inH = RTMPOSE_INPUT_H): PoseCrop {
  const cs = fixAspectRatio(boxToCenterScale(box), inW / inH);
  const crop = warpAffineRgb(rgb, w, h, cropMatrix(cs, inW, inH), inW, inH);
  const plane = inW * inH;
  const tensor = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) tensor[c * plane + i] = (crop[i * 3 + c] - RTMPOSE_MEAN[c]) / RTMPOSE_STD[c];
  }
  return { tensor, cs };
}

export interface SimccDecoded {
  /** Locations in input pixels (bins / split ratio); −1 where the score ≤ 0. */
  readonly x: Float32Array;
  readonly y: Float32Array;
  readonly score: Float32Array;
}

/** get_simcc_maximum + / split ratio for one instance: simccX [K, wx], simccY [K, wy]. */
export function decodeSimcc(simccX: Float32Array, simccY: Float32Array, k: number, splitRatio = SIMCC_SPLIT_RATIO): SimccDecoded {
  const wx = simccX.length / k, wy = simccY.length / k;
  const x = new Float32Array(k), y = new Float32Array(k), score = new Float32Array(k);
  for (let j = 0; j < k; j++) {
    const [ix, vx] = argmax(simccX, j * wx, wx);
    const [iy, vy] = argmax(simccY, j * wy, wy);
    const v = Math.min(vx, vy);
    score[j] = v;
    // numpy sets locs to −1 before the division by the split ratio.
    x[j] = (v <= 0 ? -1 : ix) / splitRatio;
    y[j] = (v <= 0 ? -1 : iy) / splitRatio;
  }
  return { x, y, score };
}

/** First index of the maximum (numpy argmax) and the maximum. */
function argmax(a: Float32Array, start: number, n: number): [number, number] {
  let best = 0, v = a[start];
  for (let i = 1; i < n; i++) {
    if (a[start + i] > v) {
      v = a[start + i];
      best = i;
    }
  }
  return [best, v];
}

/** Input-pixel keypoints → image pixels: loc / input_size × scale + centre − scale / 2. */
export function simccToImage(d: SimccDecoded, cs: CenterScale, inW = RTMPOSE_INPUT_W, inH = RTMPOSE_INPUT_H): { x: Float32Array; y: Float32Array } {
  const x = new Float32Array(d.x.length), y = new Float32Array(d.y.length);
  for (let i = 0; i < x.length; i++) {
    x[i] = (d.x[i] / inW) * cs.sw + cs.cx - cs.sw / 2;
    y[i] = (d.y[i] / inH) * cs.sh + cs.cy - cs.sh / 2;
  }
  return { x, y };
}
