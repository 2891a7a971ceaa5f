/**
 * The one entry point the pipeline calls to turn a control layer into the ControlNet's conditioning
 * image (and, for poses, the keypoints the plugin can show and edit):
 *
 * - 'none': the layer already is a control image (skeleton, edge map, depth map): transparent areas
 *   become black, then it is resized to the target size. With `keypoints`, the OpenPose JSON is rendered
 *   instead.
 * - 'pose-detect': DWPose (YOLOX + dw-ll_ucoco_384) on the photo → skeleton + OpenPose JSON (pixels of
 *   the input image). A layer that already looks like a skeleton passes through like 'none'; with
 *   `keypoints`, the JSON is rendered.
 * - 'canny': OpenCV-style Canny with `low` / `high` at the target size.
 * - 'depth': the ONNX depth model → grey inverse depth, near = white.
 *
 * Models are file paths the caller resolved through the registry (roles 'dwpose:detector',
 * 'dwpose:pose', 'depth'); a missing one raises EngineError('model-missing') naming the file and
 * `npx ipa-bridge models pull annotators`.
 */
import { EngineError, type ControlPreprocess, type RgbaImage } from '../api.ts';
import { cannyImage } from './canny.ts';
import { estimateDepth, type DepthOptions } from './depth.ts';
import { loadAnnotator, requireAnnotatorFiles } from './pose/annotator-session.ts';
import { renderPoseFrame, type RenderOptions } from './pose/draw.ts';
import { runDwpose, type DwposeOptions } from './pose/dwpose.ts';
import { parseOpenPoseJson, poseFrameToJson, type CoordinateMode } from './pose/keypoints.ts';
import { flattenRgba, resample, resizeRgba, rgbToRgba, toUint8 } from './pose/resample.ts';
import { looksLikeSkeleton } from './pose/skeleton.ts';
import type { OpenPoseJson, PoseFrame } from './pose/types.ts';

export type { OpenPoseJson } from './pose/types.ts';

/** Annotator model files, as resolved from the registry. */
export interface ControlModelPaths {
  /** Role 'dwpose:detector': yolox_l.onnx. */
  readonly poseDetector?: string;
  /** Role 'dwpose:pose': dw-ll_ucoco_384.onnx. */
  readonly poseEstimator?: string;
  /** Role 'depth': a Depth-Anything (or MiDaS-style) ONNX file. */
  readonly depth?: string;
}

export interface PreprocessControlOptions {
  /** Output size (the generation grid); defaults to the image's size. */
  readonly width?: number;
  readonly height?: number;
  /** Canny thresholds (0–255 UI scale; defaults 100 / 200). */
  readonly low?: number;
  readonly high?: number;
  readonly models?: ControlModelPaths;
  /** OpenPose keypoint JSON (object or text) to render instead of reading the image ('none' / 'pose-detect'). */
  readonly keypoints?: unknown;
  /** How the JSON's coordinates are meant; 'auto' detects normalised 0–1 files. */
  readonly coordinates?: CoordinateMode;
  /** What to draw of each pose (all by default). */
  readonly draw?: RenderOptions;
  /** 'pose-detect' passes an image that already is a skeleton through (default true). */
  readonly passThroughSkeleton?: boolean;
  readonly dwpose?: Omit<DwposeOptions, 'signal'>;
  readonly depth?: DepthOptions;
  readonly provider?: 'cpu' | 'cuda';
  readonly intraOpThreads?: number;
  readonly signal?: AbortSignal;
  /** Request field named in errors, e.g. "controls[0]". */
  readonly field?: string;
}

export interface ControlPreprocessResult {
  /** Opaque RGBA at the target size. */
  readonly image: RgbaImage;
  /** The poses drawn, for 'pose-detect' (in input-image pixels) and rendered keypoint JSON. */
  readonly keypoints?: OpenPoseJson;
}

/** DWPose works on at most this many pixels a side; larger photos are shrunk first (area average). */
export const POSE_DETECT_MAX_SIDE = 1024;

export async function preprocessControl(kind: ControlPreprocess, image: RgbaImage | null, opts: PreprocessControlOptions = {}): Promise<ControlPreprocessResult> {
  const field = opts.field;
  const width = opts.width ?? image?.width;
  const height = opts.height ?? image?.height;
  if (!width || !height || width < 1 || height < 1) throw new EngineError('invalid-control', 'control output size is unknown: give width/height or an image', field);

  if (opts.keypoints !== undefined && opts.keypoints !== null) {
    if (kind !== 'none' && kind !== 'pose-detect') throw new EngineError('invalid-control', `keypoints can only be rendered for a pose control, not with preprocess "${kind}"`, field);
    return renderKeypoints(opts.keypoints, width, height, { ...opts, fallbackWidth: image?.width ?? width, fallbackHeight: image?.height ?? height });
  }
  if (!image) throw new EngineError('invalid-control', 'control image is missing', field);
  if (image.data.length !== image.width * image.height * 4) throw new EngineError('invalid-control', `control image data has ${image.data.length} bytes; expected ${image.width}x${image.height}x4`, field);
  opts.signal?.throwIfAborted();

  switch (kind) {
    case 'none':
      return { image: passThrough(image, width, height) };
    case 'canny':
      return { image: cannyImage(image, width, height, { ...(opts.low !== undefined ? { low: opts.low } : {}), ...(opts.high !== undefined ? { high: opts.high } : {}) }) };
    case 'depth': {
      const session = await loadAnnotator('depth', opts.models?.depth, sessionOpts(opts));
      opts.signal?.throwIfAborted();
      return { image: await estimateDepth(session, image, width, height, opts.depth) };
    }
    case 'pose-detect': {
      if (opts.passThroughSkeleton !== false && looksLikeSkeleton(image)) return { image: passThrough(image, width, height) };
      const frame = await detectPose(image, opts);
      return { image: renderPoseFrame(frame, width, height, opts.draw), keypoints: poseFrameToJson(frame) };
    }
    default:
      throw new EngineError('invalid-control', `unknown control preprocess "${String(kind)}"`, field);
  }
}

/** OpenPose JSON → skeleton image at width x height, plus the parsed JSON (absolute pixels). */
export function renderKeypoints(
  json: unknown,
  width: number,
  height: number,
  opts: { readonly coordinates?: CoordinateMode; readonly draw?: RenderOptions; readonly fallbackWidth?: number; readonly fallbackHeight?: number; readonly field?: string } = {},
): ControlPreprocessResult {
  let frame: PoseFrame;
  try {
    frame = parseOpenPoseJson(json, { fallbackWidth: opts.fallbackWidth ?? width, fallbackHeight: opts.fallbackHeight ?? height, ...(opts.coordinates ? { coordinates: opts.coordinates } : {}) });
  } catch (e) {
    // Prefix the JSON-relative field with the request field.
    if (e instanceof EngineError && opts.field) throw new EngineError(e.code, e.message, e.field ? `${opts.field}.keypoints.${e.field}` : `${opts.field}.keypoints`);
    throw e;
  }
  return { image: renderPoseFrame(frame, width, height, opts.draw), keypoints: poseFrameToJson(frame) };
}

/** Control layer used as is: transparent → black (the background of every control map), resized. */
function passThrough(image: RgbaImage, width: number, height: number): RgbaImage {
  const opaque = rgbToRgba(flattenRgba(image, [0, 0, 0]), image.width, image.height);
  return resizeRgba(opaque, width, height);
}

const sessionOpts = (opts: PreprocessControlOptions) => ({
  ...(opts.provider ? { provider: opts.provider } : {}),
  ...(opts.intraOpThreads !== undefined ? { intraOpThreads: opts.intraOpThreads } : {}),
  ...(opts.field ? { field: opts.field } : {}),
});

/** DWPose on the photo (shrunk to POSE_DETECT_MAX_SIDE), keypoints in the original image's pixels. */
async function detectPose(image: RgbaImage, opts: PreprocessControlOptions): Promise<PoseFrame> {
  // Check both files before loading either, so one error names everything that is missing.
  requireAnnotatorFiles([{ role: 'dwpose:detector', path: opts.models?.poseDetector }, { role: 'dwpose:pose', path: opts.models?.poseEstimator }], opts.field);
  const so = sessionOpts(opts);
  const [detector, estimator] = await Promise.all([
    loadAnnotator('dwpose:detector', opts.models?.poseDetector, so),
    loadAnnotator('dwpose:pose', opts.models?.poseEstimator, so),
  ]);
  opts.signal?.throwIfAborted();
  let rgb = flattenRgba(image, [255, 255, 255]);
  const k = Math.min(1, POSE_DETECT_MAX_SIDE / Math.max(image.width, image.height));
  const w = Math.max(1, Math.round(image.width * k)), h = Math.max(1, Math.round(image.height * k));
  if (k < 1) rgb = toUint8(resample(rgb, image.width, image.height, 3, w, h, 'area'));
  const frame = await runDwpose({ detector, estimator }, rgb, w, h, { ...opts.dwpose, ...(opts.signal ? { signal: opts.signal } : {}) });
  if (k === 1) return frame;
  const sx = image.width / w, sy = image.height / h;
  const scale = (pts: PoseFrame['people'][number]['body'] | undefined) => pts?.map((p) => (p.score > 0 ? { ...p, x: p.x * sx, y: p.y * sy } : p));
  return {
    width: image.width,
    height: image.height,
    people: frame.people.map((p) => ({
      body: scale(p.body)!,
      ...(p.leftHand ? { leftHand: scale(p.leftHand)! } : {}),
      ...(p.rightHand ? { rightHand: scale(p.rightHand)! } : {}),
      ...(p.face ? { face: scale(p.face)! } : {}),
    })),
  };
}
