/**
 * Pose from a photo with DWPose's published ONNX models: YOLOX finds people, the whole-body model
 * estimates 133 keypoints per person box, and the result is converted to OpenPose (COCO-18 body, hands,
 * face). See yolox.ts and rtmpose.ts for the exact input/output contracts.
 *
 * As in the reference annotator, when the detector finds nobody the pose model still runs once on the
 * whole image; its low-scoring points are then dropped by the keypoint threshold.
 */
import * as ort from 'onnxruntime-node';
import { inputDims } from './annotator-session.ts';
import { cropForPose, decodeSimcc, RTMPOSE_INPUT_H, RTMPOSE_INPUT_W, simccToImage } from './rtmpose.ts';
import type { Box, PoseFrame, ScoredBox } from './types.ts';
import { wholebodyToOpenPose, DWPOSE_KEYPOINT_THRESHOLD, WHOLEBODY_POINTS } from './wholebody.ts';
import { decodeYolox, DWPOSE_DETECTOR_THRESHOLDS, letterbox, selectPersons, YOLOX_SIZE, type DetectorThresholds } from './yolox.ts';

export interface DwposeSessions {
  readonly detector: ort.InferenceSession;
  readonly estimator: ort.InferenceSession;
}

export interface DwposeOptions {
  readonly detector?: DetectorThresholds;
  /** Keypoint score threshold (0.3). */
  readonly keypointThreshold?: number;
  /** Run the pose model on the whole image when no person is detected (reference behaviour; default true). */
  readonly wholeImageFallback?: boolean;
  readonly signal?: AbortSignal;
}

/** Input H, W of a [1, 3, H, W] model, falling back to defaults where the dims are symbolic. */
function modelInputSize(session: ort.InferenceSession, defH: number, defW: number): { h: number; w: number } {
  const dims = inputDims(session) ?? [];
  return { h: dims[2] ?? defH, w: dims[3] ?? defW };
}

/** People boxes in image pixels, best first. */
export async function detectPersons(session: ort.InferenceSession, rgb: Uint8Array, w: number, h: number, t: DetectorThresholds = DWPOSE_DETECTOR_THRESHOLDS): Promise<ScoredBox[]> {
  const size = modelInputSize(session, YOLOX_SIZE, YOLOX_SIZE);
  const lb = letterbox(rgb, w, h, size.w, size.h);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', lb.tensor, [1, 3, size.h, size.w]) };
  const res = await session.run(feeds);
  const out = res[session.outputNames[0]];
  const dims = out.dims;
  if (dims.length !== 3 || dims[0] !== 1 || dims[2] < 6) throw new Error(`DWPose detector output has shape [${dims}]; expected [1, anchors, 5 + classes]`);
  const boxes = decodeYolox(out.data as Float32Array, dims[2], size.w, size.h, lb.ratio);
  return selectPersons(boxes, t);
}

export interface WholebodyResult {
  readonly x: Float32Array;
  readonly y: Float32Array;
  readonly score: Float32Array;
}

/** 133 keypoints (image pixels) and scores for one person box. */
export async function estimateWholebody(session: ort.InferenceSession, rgb: Uint8Array, w: number, h: number, box: Box): Promise<WholebodyResult> {
  const size = modelInputSize(session, RTMPOSE_INPUT_H, RTMPOSE_INPUT_W);
  const crop = cropForPose(rgb, w, h, box, size.w, size.h);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', crop.tensor, [1, 3, size.h, size.w]) };
  const res = await session.run(feeds);
  const names = session.outputNames;
  const xName = names.includes('simcc_x') ? 'simcc_x' : names[0];
  const yName = names.includes('simcc_y') ? 'simcc_y' : names[1];
  const sx = res[xName], sy = res[yName];
  if (!sx || !sy || sx.dims.length !== 3 || sy.dims.length !== 3) throw new Error(`DWPose pose model must output simcc_x [1, K, Wx] and simcc_y [1, K, Wy]; got ${names.join(', ')}`);
  const k = sx.dims[1];
  if (k !== WHOLEBODY_POINTS || sy.dims[1] !== k) throw new Error(`DWPose pose model outputs ${k} keypoints; expected ${WHOLEBODY_POINTS} (COCO-WholeBody)`);
  // The split ratio is the bins per input pixel (2 for DWPose); read it off the shapes.
  const split = sx.dims[2] / size.w;
  const dec = decodeSimcc(sx.data as Float32Array, sy.data as Float32Array, k, split);
  const pts = simccToImage(dec, crop.cs, size.w, size.h);
  return { x: pts.x, y: pts.y, score: dec.score };
}

/** The full DWPose pipeline on interleaved RGB: poses in pixels of the w x h image. */
export async function runDwpose(sessions: DwposeSessions, rgb: Uint8Array, w: number, h: number, opts: DwposeOptions = {}): Promise<PoseFrame> {
  let boxes: Box[] = await detectPersons(sessions.detector, rgb, w, h, opts.detector);
  if (boxes.length === 0 && opts.wholeImageFallback !== false) boxes = [{ x1: 0, y1: 0, x2: w, y2: h }];
  const people = [];
  for (const box of boxes) {
    opts.signal?.throwIfAborted();
    const kp = await estimateWholebody(sessions.estimator, rgb, w, h, box);
    const person = wholebodyToOpenPose(kp.x, kp.y, kp.score, opts.keypointThreshold ?? DWPOSE_KEYPOINT_THRESHOLD);
    // A person with no visible point at all draws nothing; leave it out of the JSON too.
    const parts = [person.body, person.leftHand, person.rightHand, person.face];
    if (parts.some((pts) => pts?.some((p) => p.score > 0))) people.push(person);
  }
  return { width: w, height: h, people };
}
