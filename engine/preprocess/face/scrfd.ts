/**
 * SCRFD face detector (insightface buffalo_l `det_10g.onnx`): letterbox into the detector input,
 * run, decode anchors per stride, NMS, scale back to the image.
 *
 * det_10g has a dynamic input ('input.1' [1, 3, ?, ?]; insightface's FaceAnalysis runs it at
 * 640x640) and nine outputs [rows, C]: scores (C = 1), box distances (C = 4) and landmark
 * distances (C = 10) for strides 8, 16, 32 with two anchors per location. insightface takes them
 * by position; here they are matched by shape — C tells the kind, the row count the stride — so a
 * re-export with another output order or a leading batch axis still decodes right.
 */
import * as ort from 'onnxruntime-node';
import {
  decodeLevel, letterbox, nms, unletterbox,
  type Detection, type ScrfdLevel,
} from './geometry.ts';
import { resizeBilinear, toBlob, type RgbPixels } from './image.ts';

export const SCRFD_MEAN = 127.5;
export const SCRFD_STD = 128;
export const DEFAULT_SCORE_THRESHOLD = 0.5;
export const DEFAULT_NMS_THRESHOLD = 0.4;

export interface OutputTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: ArrayLike<number>;
}

export class ScrfdLayoutError extends Error {
  constructor(message: string) {
    super(`SCRFD detector outputs: ${message}`);
    this.name = 'ScrfdLayoutError';
  }
}

interface Grouped { rows: number; out: OutputTensor }

/** Splits outputs by their last axis (1 scores, 4 boxes, 10 landmarks), each sorted by row count, most rows (finest stride) first. */
function groupOutputs(outputs: readonly OutputTensor[]): Map<number, Grouped[]> {
  const groups = new Map<number, Grouped[]>();
  for (const out of outputs) {
    const c = out.dims[out.dims.length - 1];
    const lead = out.dims.slice(0, -1);
    if (out.dims.length < 2 || lead.slice(0, -1).some((d) => d !== 1) || ![1, 4, 10].includes(c)) {
      throw new ScrfdLayoutError(`"${out.name}" has shape [${out.dims}]; expected [rows, 1 | 4 | 10] (optionally with a leading batch of 1)`);
    }
    const rows = lead[lead.length - 1];
    const list = groups.get(c) ?? [];
    list.push({ rows, out });
    groups.set(c, list);
  }
  for (const list of groups.values()) list.sort((a, b) => b.rows - a.rows);
  return groups;
}

/**
 * Matches raw outputs to pyramid levels for a detector input of `inputWidth` x `inputHeight`.
 * Strides are 8·2^i (SCRFD's 3- and 5-level heads); anchors per location follow from the rows.
 */
export function scrfdLevels(outputs: readonly OutputTensor[], inputWidth: number, inputHeight: number): ScrfdLevel[] {
  const groups = groupOutputs(outputs);
  const scores = groups.get(1) ?? [];
  const boxes = groups.get(4) ?? [];
  const kps = groups.get(10) ?? [];
  const names = outputs.map((o) => `${o.name} [${o.dims}]`).join(', ');
  if (scores.length === 0 || boxes.length !== scores.length || (kps.length !== 0 && kps.length !== scores.length)) {
    throw new ScrfdLayoutError(`expected matching score / box / landmark outputs per stride, got ${names}`);
  }
  const levels: ScrfdLevel[] = [];
  let anchors = 0;
  for (let i = 0; i < scores.length; i++) {
    const stride = 8 << i;
    const featWidth = Math.floor(inputWidth / stride);
    const featHeight = Math.floor(inputHeight / stride);
    const rows = scores[i].rows;
    const a = rows / (featWidth * featHeight);
    if (!Number.isInteger(a) || a < 1 || (anchors && a !== anchors) || boxes[i].rows !== rows || (kps[i] && kps[i].rows !== rows)) {
      throw new ScrfdLayoutError(`stride ${stride} at a ${inputWidth}x${inputHeight} input should have ${featWidth}x${featHeight} locations times the anchors, got ${names}`);
    }
    anchors = a;
    levels.push({ stride, featWidth, featHeight, anchors: a, scores: scores[i].out.data, boxes: boxes[i].out.data, kps: kps[i]?.out.data });
  }
  return levels;
}

/** Fixed H, W of the detector input, or undefined when dynamic (then the caller picks the size). */
export function fixedInputSize(session: ort.InferenceSession): { width: number; height: number } | undefined {
  const meta = session.inputMetadata[0];
  if (!meta || !meta.isTensor || meta.shape.length !== 4) return undefined;
  const [, , h, w] = meta.shape;
  return typeof h === 'number' && typeof w === 'number' && h > 0 && w > 0 ? { width: w, height: h } : undefined;
}

export interface DetectOptions {
  readonly inputWidth: number;
  readonly inputHeight: number;
  readonly threshold?: number;
  readonly nmsThreshold?: number;
}

/** Detected faces in image pixels, best score first (insightface's `faces` order). */
export async function runScrfd(session: ort.InferenceSession, img: RgbPixels, opts: DetectOptions): Promise<Detection[]> {
  const { inputWidth: W, inputHeight: H } = opts;
  const lb = letterbox(img.width, img.height, W, H);
  const resized = resizeBilinear(img, lb.width, lb.height);
  const blob = toBlob(resized, SCRFD_MEAN, SCRFD_STD, { width: W, height: H });
  const input = new ort.Tensor('float32', blob, [1, 3, H, W]);
  const results = await session.run({ [session.inputNames[0]]: input });
  const outputs: OutputTensor[] = session.outputNames.map((name) => {
    const t = results[name];
    if (t.type !== 'float32') throw new ScrfdLayoutError(`"${name}" is ${t.type}, expected float32`);
    return { name, dims: t.dims, data: t.data as Float32Array };
  });
  const levels = scrfdLevels(outputs, W, H);
  const threshold = opts.threshold ?? DEFAULT_SCORE_THRESHOLD;
  const candidates = levels.flatMap((l) => decodeLevel(l, threshold)).map((d) => unletterbox(d, lb.scale));
  return nms(candidates, opts.nmsThreshold ?? DEFAULT_NMS_THRESHOLD).map((i) => candidates[i]);
}
