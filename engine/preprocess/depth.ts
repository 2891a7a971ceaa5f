/**
 * Depth control image from an ONNX monocular depth model.
 *
 * Expected model (Depth-Anything V2 small, onnx-community/depth-anything-v2-small `onnx/model.onnx`, or
 * the fabio-sim Depth-Anything exports; MiDaS/DPT exports work the same way):
 * - one input, float32 [1, 3, H, W], named `pixel_values` (transformers export) or `image` (others) — the
 *   name is read from the session; RGB, x / 255, then (x − mean) / std with ImageNet mean
 *   (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225) (`normalize: 'symmetric'` uses 0.5 / 0.5 for DPT
 *   MiDaS exports);
 * - H, W: the input's static dims when the model has them (e.g. 518 x 518); for dynamic dims the
 *   transformers DPT rule: scale both sides by whichever of 518/h, 518/w is closer to 1, round each to a
 *   multiple of 14 (half to even);
 * - one output, float32 [1, H', W'] (or [1, 1, H', W']) of relative inverse depth (bigger = nearer).
 * The map is resized (bilinear) to the target size, then min–max normalised to 0–255 grey: near = white.
 */
import * as ort from 'onnxruntime-node';
import type { RgbaImage } from '../api.ts';
import { inputDims } from './pose/annotator-session.ts';
import { roundHalfEven } from './pose/raster.ts';
import { flattenRgba, resample, rgbToRgba } from './pose/resample.ts';

export const DEPTH_SIZE = 518;
export const DEPTH_MULTIPLE = 14;
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

export interface DepthOptions {
  /** Target side for dynamic-size models (518). */
  readonly size?: number;
  /** Dynamic sizes are rounded to a multiple of this (14 for ViT/14 backbones, 32 for MiDaS). */
  readonly multiple?: number;
  /** 'imagenet' (Depth-Anything, MiDaS v2.1) or 'symmetric' (mean = std = 0.5, DPT MiDaS v3). */
  readonly normalize?: 'imagenet' | 'symmetric';
}

/** transformers DPTImageProcessor's constrain_to_multiple_of (no bounds). */
function toMultiple(v: number, multiple: number): number {
  return Math.max(multiple, roundHalfEven(v / multiple) * multiple);
}

/** Model input size for an image: static dims if the model has them, else the DPT keep-aspect rule. */
export function depthInputSize(width: number, height: number, staticDims: { h?: number; w?: number } = {}, opts: DepthOptions = {}): { width: number; height: number } {
  const size = opts.size ?? DEPTH_SIZE;
  const multiple = opts.multiple ?? DEPTH_MULTIPLE;
  if (staticDims.h && staticDims.w) return { width: staticDims.w, height: staticDims.h };
  let sh = size / height, sw = size / width;
  // "scale as little as possible"
  if (Math.abs(1 - sw) < Math.abs(1 - sh)) sh = sw;
  else sw = sh;
  return {
    width: staticDims.w ?? toMultiple(sw * width, multiple),
    height: staticDims.h ?? toMultiple(sh * height, multiple),
  };
}

/** Interleaved RGB → [1, 3, inH, inW] planar, resized, x/255, (x − mean)/std. */
export function depthInputTensor(rgb: Uint8Array, w: number, h: number, inW: number, inH: number, normalize: 'imagenet' | 'symmetric' = 'imagenet'): Float32Array {
  const mean = normalize === 'imagenet' ? IMAGENET_MEAN : [0.5, 0.5, 0.5];
  const std = normalize === 'imagenet' ? IMAGENET_STD : [0.5, 0.5, 0.5];
  const resized = w === inW && h === inH ? rgb : resample(rgb, w, h, 3, inW, inH);
  const plane = inW * inH;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[c * plane + i] = (resized[i * 3 + c] / 255 - mean[c]) / std[c];
  }
  return out;
}

/** (d − min) / (max − min) × 255, truncated to bytes as the annotators do; a flat map is black. */
export function normalizeDepth(depth: ArrayLike<number>): Uint8Array {
  let min = Infinity, max = -Infinity;
  for (let i = 0; i < depth.length; i++) {
    min = Math.min(min, depth[i]);
    max = Math.max(max, depth[i]);
  }
  const out = new Uint8Array(depth.length);
  const range = max - min;
  if (!(range > 0)) return out;
  for (let i = 0; i < depth.length; i++) out[i] = Math.min(255, Math.floor(((depth[i] - min) / range) * 255));
  return out;
}

/** Runs the depth model on `image` and returns the grey depth control image at width x height. */
export async function estimateDepth(session: ort.InferenceSession, image: RgbaImage, width: number, height: number, opts: DepthOptions = {}): Promise<RgbaImage> {
  const dims = inputDims(session) ?? [];
  if (dims.length !== 4 && dims.length !== 0) throw new Error(`depth model input has ${dims.length} dims; expected [1, 3, H, W]`);
  const size = depthInputSize(image.width, image.height, { h: dims[2], w: dims[3] }, opts);
  const rgb = flattenRgba(image, [255, 255, 255]);
  const tensor = depthInputTensor(rgb, image.width, image.height, size.width, size.height, opts.normalize);
  const res = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', tensor, [1, 3, size.height, size.width]) });
  const out = res[session.outputNames[0]];
  const od = out.dims;
  if (od.length < 2 || od.slice(0, -2).some((d) => d !== 1)) throw new Error(`depth model output has shape [${od}]; expected [1, H, W] or [1, 1, H, W]`);
  const oh = od[od.length - 2], ow = od[od.length - 1];
  const map = resample(out.data as Float32Array, ow, oh, 1, width, height, 'linear');
  const grey = normalizeDepth(map);
  const rgbOut = new Uint8Array(width * height * 3);
  for (let i = 0; i < grey.length; i++) rgbOut[i * 3] = rgbOut[i * 3 + 1] = rgbOut[i * 3 + 2] = grey[i];
  return rgbToRgba(rgbOut, width, height);
}
