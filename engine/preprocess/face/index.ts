/**
 * FaceID preprocessing: the insightface buffalo_l pipeline IP-Adapter-FaceID was trained with
 * (`FaceAnalysis(name="buffalo_l").prepare(det_size=(640, 640))`, then `faces[i].normed_embedding`
 * and, for FaceID-Plus/PlusV2, `face_align.norm_crop(image, faces[i].kps, image_size=224)` through
 * the CLIP image encoder).
 *
 * faceEmbedding: SCRFD detection → pick a face → 5-point alignment → ArcFace → L2-normalised
 * 512-d embedding, plus the aligned 224 crop. onnxruntime sessions are cached per model file.
 */
import { statSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { EngineError, type RgbaImage } from '../../api.ts';
import { boxArea, type Box, type Detection, type Point } from './geometry.ts';
import { rgbaToRgb, rgbToRgba, validateRgba, type RgbPixels } from './image.ts';
import { DEFAULT_NMS_THRESHOLD, DEFAULT_SCORE_THRESHOLD, fixedInputSize, runScrfd, ScrfdLayoutError } from './scrfd.ts';
import { checkRecognizerInput, l2Normalize, normCrop, runArcface, ARCFACE_SIZE } from './arcface.ts';

export type { Box, Detection, Point } from './geometry.ts';

export interface FaceModels {
  /** insightface SCRFD detector, buffalo_l `det_10g.onnx` (role 'insightface:detector'). */
  readonly detector: string;
  /** insightface ArcFace recognizer, buffalo_l `w600k_r50.onnx` (role 'insightface:recognizer'). */
  readonly recognizer: string;
}

/** 'largest' box area (default), 'best' detection score (insightface's faces[0]), or an index in score order. */
export type FaceChoice = 'largest' | 'best' | number;

export interface FaceEmbeddingOptions {
  readonly face?: FaceChoice;
  /** Names the image in errors and is the EngineError field, e.g. "references[0].image". */
  readonly role?: string;
  /** Detector input sides to try in turn until a face is found (dynamic-input detectors only). */
  readonly detSizes?: readonly number[];
  readonly threshold?: number;
  readonly nmsThreshold?: number;
  /** Also return the 224x224 norm_crop for FaceID-Plus / PlusV2 (default true; it is cheap). */
  readonly alignedCrop?: boolean;
  readonly provider?: 'cpu' | 'cuda';
}

export interface FaceEmbeddingResult {
  /** insightface `normed_embedding`: the recognizer output divided by its L2 norm (512 for w600k_r50). */
  readonly embedding: Float32Array;
  /** L2 norm of the raw recognizer output (insightface `embedding_norm`). */
  readonly norm: number;
  readonly box: Box;
  /** Left eye, right eye, nose, left and right mouth corner, in image pixels. */
  readonly kps: readonly Point[];
  readonly score: number;
  /** Index of the chosen face among `faces`. */
  readonly index: number;
  /** Every detected face, best score first. */
  readonly faces: readonly Detection[];
  /** Detector input side the faces were found at. */
  readonly detSize: number;
  /** norm_crop(image, kps, 224) in true RGB (see docs/faceid.md for the reference's BGR quirk). */
  readonly alignedCrop224?: RgbaImage;
}

/**
 * insightface runs the detector at 640. A face filling the whole frame can be missed at that size;
 * ComfyUI_IPAdapter_plus retries at 640, 576, …, 320 — same result whenever 640 finds a face.
 */
export const DEFAULT_DET_SIZES: readonly number[] = [640, 576, 512, 448, 384, 320];

// ---------------------------------------------------------------------------------------------
// Sessions

const sessions = new Map<string, Promise<ort.InferenceSession>>();

/** One session per model file (and its size/mtime, so a replaced file is reloaded) and provider. */
export function faceSession(path: string, what: 'detector' | 'recognizer', provider: 'cpu' | 'cuda' = 'cpu'): Promise<ort.InferenceSession> {
  let stamp: string;
  try {
    const st = statSync(path);
    stamp = `${st.size}:${st.mtimeMs}`;
  } catch {
    const file = what === 'detector' ? 'det_10g.onnx' : 'w600k_r50.onnx';
    return Promise.reject(new EngineError('model-missing', `insightface ${what} model not found at ${path} (buffalo_l ${file})`));
  }
  const key = `${provider}|${path}|${stamp}`;
  let s = sessions.get(key);
  if (!s) {
    s = ort.InferenceSession.create(path, {
      executionProviders: provider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
      graphOptimizationLevel: 'all',
    }).catch((e: Error) => {
      sessions.delete(key); // let a fixed file load next time
      throw new EngineError('model-invalid', `onnxruntime could not load the insightface ${what} ${path}: ${e.message}`);
    });
    sessions.set(key, s);
  }
  return s;
}

/** Releases every cached face session. */
export async function releaseFaceSessions(): Promise<void> {
  const all = [...sessions.values()];
  sessions.clear();
  await Promise.all(all.map(async (p) => (await p.catch(() => undefined))?.release()));
}

// ---------------------------------------------------------------------------------------------
// Detection and selection

/** Index of the chosen face in `faces` (best score first). */
export function chooseFace(faces: readonly Detection[], choice: FaceChoice = 'largest'): number {
  if (choice === 'best') return 0;
  if (choice === 'largest') {
    let best = 0;
    for (let i = 1; i < faces.length; i++) if (boxArea(faces[i].box) > boxArea(faces[best].box)) best = i;
    return best;
  }
  return choice;
}

/** Faces found by the detector, best score first; tries `detSizes` in turn until one finds any. */
export async function detectFaces(image: RgbaImage, detector: string, opts: FaceEmbeddingOptions = {}): Promise<{ faces: Detection[]; detSize: number }> {
  validateRgba(image, opts.role ?? 'face image');
  return detectRgb(rgbaToRgb(image), detector, opts);
}

async function detectRgb(rgb: RgbPixels, detector: string, opts: FaceEmbeddingOptions): Promise<{ faces: Detection[]; detSize: number }> {
  const session = await faceSession(detector, 'detector', opts.provider);
  const fixed = fixedInputSize(session);
  const requested = opts.detSizes ?? DEFAULT_DET_SIZES;
  const bad = requested.find((s) => !(Number.isInteger(s) && s > 0 && s % 32 === 0));
  if (bad !== undefined || requested.length === 0) throw new Error(`face detector sizes must be positive multiples of 32, got [${requested.join(', ')}]`);
  const sizes = fixed ? [fixed] : requested.map((s) => ({ width: s, height: s }));
  for (const { width, height } of sizes) {
    const faces = await runScrfd(session, rgb, {
      inputWidth: width, inputHeight: height,
      threshold: opts.threshold ?? DEFAULT_SCORE_THRESHOLD, nmsThreshold: opts.nmsThreshold ?? DEFAULT_NMS_THRESHOLD,
    }).catch((e: Error) => {
      // A model with other outputs is the wrong file for this role, not an engine bug.
      throw e instanceof ScrfdLayoutError ? new EngineError('model-invalid', `${detector}: ${e.message}`) : e;
    });
    if (faces.length) return { faces, detSize: width };
  }
  return { faces: [], detSize: sizes[sizes.length - 1].width };
}

/**
 * The FaceID embedding of one face in `image`: detection, choice, alignment, ArcFace.
 * Throws EngineError 'no-face' (field = opts.role) when the detector finds none, 'face-index' for
 * an index past the faces found, 'model-missing' / 'model-invalid' for the model files.
 */
export async function faceEmbedding(image: RgbaImage, models: FaceModels, opts: FaceEmbeddingOptions = {}): Promise<FaceEmbeddingResult> {
  const role = opts.role ?? 'face image';
  validateRgba(image, role);
  const rgb = rgbaToRgb(image);
  const [{ faces, detSize }, recognizer] = await Promise.all([
    detectRgb(rgb, models.detector, opts),
    faceSession(models.recognizer, 'recognizer', opts.provider),
  ]);
  if (faces.length === 0) {
    throw new EngineError('no-face', `no face found in ${role} (${image.width}x${image.height}); FaceID needs a photo with a clearly visible face`, opts.role);
  }
  const index = chooseFace(faces, opts.face);
  if (!Number.isInteger(index) || index < 0 || index >= faces.length) {
    throw new EngineError('face-index', `face ${String(opts.face)} requested in ${role}, but ${faces.length} face${faces.length === 1 ? ' was' : 's were'} found (indices 0–${faces.length - 1}, best score first)`, opts.role);
  }
  const face = faces[index];
  if (face.kps.length !== 5) throw new EngineError('model-invalid', `${models.detector}: the detector gives no 5-point landmarks (FaceID needs an SCRFD "kps" model such as det_10g.onnx)`);
  checkRecognizerInput(recognizer, models.recognizer);
  const raw = await runArcface(recognizer, normCrop(rgb, face.kps, ARCFACE_SIZE));
  const { normed, norm } = l2Normalize(raw);
  const result: FaceEmbeddingResult = { embedding: normed, norm, box: face.box, kps: face.kps, score: face.score, index, faces, detSize };
  return opts.alignedCrop === false ? result : { ...result, alignedCrop224: rgbToRgba(normCrop(rgb, face.kps, 224)) };
}

/** Swaps R and B: the reference FaceID-Plus code hands insightface's BGR crop to CLIP as if RGB. */
export function swapRedBlue(img: RgbaImage): RgbaImage {
  const data = new Uint8Array(img.data);
  for (let i = 0; i < data.length; i += 4) {
    data[i] = img.data[i + 2];
    data[i + 2] = img.data[i];
  }
  return { width: img.width, height: img.height, data };
}

export { normCrop, l2Normalize } from './arcface.ts';
export {
  ARCFACE_TEMPLATE_112, arcfaceTemplate, anchorCentres, distance2bbox, distance2kps, decodeLevel,
  estimateNorm, letterbox, nms, similarityTransform, applyAffine, invertAffine,
} from './geometry.ts';
export { scrfdLevels, ScrfdLayoutError } from './scrfd.ts';
export { resizeBilinear, warpAffine, toBlob, rgbaToRgb, rgbToRgba } from './image.ts';
