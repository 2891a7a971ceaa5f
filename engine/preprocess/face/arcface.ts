/**
 * ArcFace recognizer (insightface buffalo_l `w600k_r50.onnx`, input [N, 3, 112, 112] → [N, 512]):
 * insightface's `norm_crop` (5-point similarity alignment onto the arcface template + warpAffine),
 * blobFromImage with (x − 127.5) / 127.5 in RGB order, and `normed_embedding` = embedding / ‖embedding‖,
 * which is what IP-Adapter-FaceID feeds its projection (`faces[0].normed_embedding`).
 *
 * insightface switches to mean 0 / std 1 for old MXNet exports that normalise inside the graph;
 * w600k_r50 is not one of them, so the (x − 127.5) / 127.5 path is the only one here.
 */
import * as ort from 'onnxruntime-node';
import { EngineError } from '../../api.ts';
import { estimateNorm, type Point } from './geometry.ts';
import { toBlob, warpAffine, type RgbPixels } from './image.ts';

export const ARCFACE_MEAN = 127.5;
export const ARCFACE_STD = 127.5;
export const ARCFACE_SIZE = 112;

/** insightface face_align.norm_crop: the face warped so its landmarks sit on the template for `size`. */
export function normCrop(img: RgbPixels, kps: readonly Point[], size = ARCFACE_SIZE): RgbPixels {
  return warpAffine(img, estimateNorm(kps, size), size);
}

export function l2Normalize(v: ArrayLike<number>): { normed: Float32Array; norm: number } {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  const norm = Math.sqrt(sum);
  const normed = new Float32Array(v.length);
  if (norm > 0) for (let i = 0; i < v.length; i++) normed[i] = v[i] / norm;
  return { normed, norm };
}

/** Checks the recognizer takes [N, 3, 112, 112] (dynamic N is fine). */
export function checkRecognizerInput(session: ort.InferenceSession, path: string): void {
  const meta = session.inputMetadata[0];
  if (!meta || !meta.isTensor || meta.shape.length !== 4) return; // no metadata: trust the run
  const [, c, h, w] = meta.shape;
  const fixed = (d: number | string, want: number) => typeof d !== 'number' || d === want;
  if (!fixed(c, 3) || !fixed(h, ARCFACE_SIZE) || !fixed(w, ARCFACE_SIZE)) {
    throw new EngineError('model-invalid', `${path}: recognizer input "${meta.name}" is [${meta.shape}], expected [N, 3, ${ARCFACE_SIZE}, ${ARCFACE_SIZE}] (insightface w600k_r50.onnx)`);
  }
}

/** Raw (unnormalised) embedding of one aligned 112x112 crop. */
export async function runArcface(session: ort.InferenceSession, crop: RgbPixels): Promise<Float32Array> {
  const blob = toBlob(crop, ARCFACE_MEAN, ARCFACE_STD);
  const input = new ort.Tensor('float32', blob, [1, 3, crop.height, crop.width]);
  const results = await session.run({ [session.inputNames[0]]: input });
  const out = results[session.outputNames[0]];
  if (out.type !== 'float32') throw new Error(`recognizer output "${session.outputNames[0]}" is ${out.type}, expected float32`);
  const data = out.data as Float32Array;
  if (data.length === 0 || out.dims[0] !== 1) throw new Error(`recognizer output "${session.outputNames[0]}" has shape [${out.dims}], expected [1, D]`);
  return data.slice();
}
