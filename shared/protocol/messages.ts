/**
 * Message shapes of the wire protocol (JSON text frames). Binary frames are in frame.ts.
 * No Node APIs: the Photoshop and Figma plugins import this file.
 */

/**
 * Few-step samplers (LCM, TCD, Lightning, Turbo, Hyper-SD) carry the timestep spacing their model cards
 * specify in the name: `*-trailing` = diffusers' timestep_spacing "trailing", `sgm-uniform` = ComfyUI's
 * sgm_uniform sigmas with the Euler step.
 */
export type SamplerName = 'ddim' | 'euler' | 'euler-ancestral' | 'dpmpp-2m' | 'dpmpp-2m-karras' | 'lcm' | 'unipc'
  | 'tcd' | 'euler-trailing' | 'euler-ancestral-trailing' | 'ddim-trailing' | 'sgm-uniform';
export const SAMPLERS: readonly SamplerName[] = ['ddim', 'euler', 'euler-ancestral', 'dpmpp-2m', 'dpmpp-2m-karras', 'lcm', 'unipc',
  'tcd', 'euler-trailing', 'euler-ancestral-trailing', 'ddim-trailing', 'sgm-uniform'];

export type AdapterKind = 'base' | 'plus' | 'faceid' | 'faceid-plus' | 'faceid-plusv2' | 'portrait';
export const ADAPTER_KINDS: readonly AdapterKind[] = ['base', 'plus', 'faceid', 'faceid-plus', 'faceid-plusv2', 'portrait'];

export type BlockPreset = 'reference' | 'style' | 'composition';
export const BLOCK_PRESETS: readonly BlockPreset[] = ['reference', 'style', 'composition'];

export type ControlType = 'pose' | 'canny' | 'depth';
export const CONTROL_TYPES: readonly ControlType[] = ['pose', 'canny', 'depth'];

export type ControlPreprocess = 'none' | 'pose-detect' | 'canny' | 'depth';
export const CONTROL_PREPROCESS: readonly ControlPreprocess[] = ['none', 'pose-detect', 'canny', 'depth'];

export type OutputFormat = 'png' | 'raw-rgba8';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['png', 'raw-rgba8'];

/** Fraction of the denoising schedule: 0 = first step, 1 = last. start < end. */
export interface StepRange {
  start: number;
  end: number;
}

/**
 * Where an input image comes from: a binary frame sent right after the job message (header names the
 * job id, role and index), or a blob the daemon already holds, named by the sha256 of its frame payload.
 */
export type ImageSource = { source: 'frame' } | { source: 'hash'; hash: string };

export interface MaskSpec {
  source: 'frame' | 'hash';
  hash?: string;
  /** Gaussian feather radius in pixels of the mask as sent (0 = hard edge). */
  feather?: number;
  /** Generate only the mask's bounding box plus `padding`, then paste back into the init image. */
  crop?: boolean;
  padding?: number;
  /** Treat black as "repaint" instead of white. */
  invert?: boolean;
}

export interface ReferenceSpec {
  source: 'frame' | 'hash';
  hash?: string;
  adapter?: AdapterKind;
  /** 0 = off, 0.3–0.5 weak, 0.7–1.0 strong, >1 overrides the text. */
  scale?: number;
  preset?: BlockPreset;
  range?: StepRange;
  /** Model file name in the registry; otherwise the default for `adapter`. */
  model?: string;
  /** References sharing a group form one image prompt (scale, preset and range of the first). */
  group?: string;
  /** How a group's images combine: their tokens concatenated (default) or their embeddings averaged. */
  combine?: 'concat' | 'average';
  /**
   * Regional image prompt: where this reference acts. A gray (or RGBA: luma × alpha) image at the init's
   * size, or with the output's aspect without an init; ≥ 50 % = inside. A masked reference is its own
   * image prompt (docs/ip-adapter.md).
   */
  mask?: ReferenceMaskSpec;
}

/** A reference's mask: a `reference-mask` frame (index = the reference's position) or a known blob. */
export interface ReferenceMaskSpec {
  source: 'frame' | 'hash';
  hash?: string;
  /** White = outside instead of inside. */
  invert?: boolean;
}

/** OpenPose keypoint JSON (as written by OpenPose / ControlNet editors), accepted instead of an image. */
export interface PoseKeypoints {
  canvas_width: number;
  canvas_height: number;
  people: Array<{ pose_keypoints_2d: number[] }>;
}

export interface ControlSpec {
  source: 'frame' | 'hash' | 'keypoints';
  hash?: string;
  keypoints?: PoseKeypoints;
  type: ControlType;
  preprocess?: ControlPreprocess;
  scale?: number;
  range?: StepRange;
  guessMode?: boolean;
  model?: string;
  /** Canny thresholds, 0–255, low ≤ high. */
  low?: number;
  high?: number;
}

export interface OutputSpec {
  format?: OutputFormat;
  /** Send a small preview (binary frame, role `preview`) with each progress event. */
  preview?: boolean;
  /** Also return the processed control images (e.g. the detected pose skeleton). */
  controlImages?: boolean;
}

export interface LoraSpec {
  model: string;
  strength: number;
}

/** Generation parameters shared by the job message and the result metadata. */
export interface JobParams {
  prompt: string;
  negativePrompt?: string;
  /** 0 … 2^32-1; omitted = the daemon picks one and reports it in the result. */
  seed?: number;
  /** Omitted = the checkpoint family's default (SD1.5: 20, euler-ancestral, 7; SDXL: 30, dpmpp-2m-karras, 5), filled by the daemon. */
  steps?: number;
  sampler?: SamplerName;
  guidance?: number;
  /** Generation size, multiples of 8. Omitted = derived from the init image, else the family's size (SD1.5 512², SDXL 1024²). */
  width?: number;
  height?: number;
  strength?: number;
  batchSize?: number;
  clipSkip?: number;
  variationSeed?: number;
  variationStrength?: number;
  checkpoint?: string;
  loras?: LoraSpec[];
  /** 0–1: TCD's gamma (default 0.3) and DDIM's eta (default 0); other samplers ignore it. */
  eta?: number;
  /** Decode the final image with the tiny TAESD decoder when one is installed (fast, softer). */
  draftDecode?: boolean;
}

// ---------------------------------------------------------------- client → server

export interface HelloMessage {
  type: 'hello';
  protocol: number;
  client?: { name?: string; version?: string; /** stable per installation; used for queue fairness */ id?: string };
}

export interface JobMessage extends JobParams {
  type: 'job';
  /** Client-chosen, 1–64 chars of [A-Za-z0-9._:-]; unique among the daemon's live and retained jobs. */
  jobId: string;
  init?: ImageSource;
  mask?: MaskSpec;
  references?: ReferenceSpec[];
  controls?: ControlSpec[];
  output?: OutputSpec;
}

export interface CancelMessage {
  type: 'cancel';
  jobId: string;
}

/** Re-attach to a job (queued, running or finished and retained), e.g. after a reconnect. */
export interface ResumeMessage {
  type: 'resume';
  jobId: string;
}

/** The client has the result; the daemon may forget it now instead of at TTL. */
export interface ReleaseMessage {
  type: 'release';
  jobId: string;
}

export interface PingMessage {
  type: 'ping';
  nonce?: string | number;
}

export type ClientMessage = HelloMessage | JobMessage | CancelMessage | ResumeMessage | ReleaseMessage | PingMessage;
export type ClientMessageType = ClientMessage['type'];
export const CLIENT_MESSAGE_TYPES: readonly ClientMessageType[] = ['hello', 'job', 'cancel', 'resume', 'release', 'ping'];

// ---------------------------------------------------------------- server → client

/** Few-step model families, each with the recipe its model card gives (shared/plugin/speed-presets.ts). */
export type FewStepFamily = 'lcm' | 'tcd' | 'hyper-sd' | 'lightning' | 'turbo';
export const FEW_STEP_FAMILIES: readonly FewStepFamily[] = ['lcm', 'tcd', 'hyper-sd', 'lightning', 'turbo'];

/** What the daemon read off a few-step model's file or hub name. */
export interface FewStepInfo {
  family: FewStepFamily;
  /** The step count it was distilled for, where the name says (SDXL-Lightning, Hyper-SD N-step). */
  steps?: number;
  /** Hyper-SD's CFG-preserving variants (`…-CFG-lora`): run with guidance 5–8 and a negative prompt. */
  cfg?: boolean;
}

export interface ModelInfo {
  name: string;
  kind: string;
  bytes?: number;
  /** The architecture the tensors say (checkpoints, LoRAs, adapters), where known. */
  base?: 'sd15' | 'sd2' | 'sdxl' | 'sd3' | 'flux';
  /** Set for few-step checkpoints and LoRAs (LCM, TCD, Hyper-SD, SDXL-Lightning, SDXL-Turbo). */
  fewStep?: FewStepInfo;
  /** The model a job that names none gets (one checkpoint; one per role for the rest). */
  default?: boolean;
}

export type Feature =
  | 'txt2img' | 'img2img' | 'inpaint' | 'crop-to-mask' | 'ip-adapter' | 'controlnet' | 'pose-keypoints'
  | 'preview' | 'resume' | 'blob-hash' | 'control-images'
  // A studio server (`ipa-bridge team serve`): per-user tokens, jobs on Redis across GPU workers (docs/team.md).
  | 'team';

export interface Capabilities {
  models: ModelInfo[];
  /** Largest width*height the daemon generates at. */
  maxPixels: number;
  /** Largest width*height of an input image (decoded). */
  maxInputPixels: number;
  /** Largest message (frame) in bytes; bigger closes the connection with 1009. */
  maxPayload: number;
  maxBatch: number;
  samplers: SamplerName[];
  adapters: AdapterKind[];
  controls: ControlType[];
  features: Feature[];
  /** Execution provider in use ("cpu", "webgpu", "coreml", "dml", "cuda", "tensorrt"), or null when the engine failed to load. */
  provider: string | null;
  /** The provider's adapter or device name, where onnxruntime or the system tells. */
  device?: string;
  /** Whether the graphs compute in fp16 (graph inputs and outputs stay fp32). */
  fp16?: boolean;
  /** Why the engine is unavailable (jobs will fail with `engine-unavailable`). */
  engineError?: string;
  /** Features the installed models cannot serve yet, each with the command that fetches what it lacks. */
  missing?: MissingFeature[];
  /** Only from a team front (`features` has "team"): who this connection is, and what serves it. */
  team?: TeamInfo;
  /**
   * Per model family with an installed checkpoint: its checkpoints, the adapter kinds and control types
   * its models serve, and its defaults (SDXL: 1024², its aspect buckets). `adapters` / `controls` above
   * stay SD1.5's. Additive: older daemons omit it.
   */
  families?: Partial<Record<'sd15' | 'sdxl', FamilyCapabilities>>;
}

/** What the installed models allow for one model family (Capabilities.families). */
export interface FamilyCapabilities {
  checkpoints: string[];
  adapters: AdapterKind[];
  controls: ControlType[];
  defaults: {
    width: number;
    height: number;
    steps: number;
    guidance: number;
    sampler: SamplerName;
    /** SDXL's training sizes (width, height): pick the one nearest the selection's aspect ratio. */
    buckets?: Array<[number, number]>;
  };
}

/** The studio server's side of the handshake (docs/team.md). */
export interface TeamInfo {
  /** The user the token belongs to. */
  user: string;
  /** GPU workers seen in the last few seconds (jobs wait in the queue while this is 0). */
  workers: number;
  /**
   * SHA-256 fingerprint of the front's TLS certificate ("AB:CD:…", as `team fingerprint` prints it),
   * absent without TLS. A browser socket cannot read the certificate itself: plugins pin this value on
   * first connect and refuse a change.
   */
  fingerprint?: string;
  /** Jobs one user may have queued or running at once. */
  maxJobsPerUser: number;
}

/** "image prompts: no IP-Adapter — npx ipa-bridge models pull sd15-style" as data, for the panels. */
export interface MissingFeature {
  /** e.g. "image prompts", "pose control", "text to image". */
  feature: string;
  /** What is missing, in words: ["IP-Adapter", "ViT-H image encoder"]. */
  lacks: string[];
  /** The registry roles behind `lacks` ("ipadapter:base", "clip_vision:vit-h"). */
  roles: string[];
  /** The command that fetches them. */
  command: string;
}

export interface WelcomeMessage {
  type: 'welcome';
  protocol: number;
  server: { name: string; version: string };
  capabilities: Capabilities;
}

/** Content hashes of the job's inputs, so the client can send `{source:'hash'}` next time. */
export interface InputHashes {
  init?: string;
  mask?: string;
  references: Array<string | null>;
  controls: Array<string | null>;
  /** Only when a reference has a mask: its hash, null for unmasked references. */
  referenceMasks?: Array<string | null>;
}

export interface AcceptedMessage {
  type: 'accepted';
  jobId: string;
  /** Jobs ahead of this one (0 = runs next or is running). */
  position: number;
  inputs: InputHashes;
}

/** Queue position changed (another client's job was scheduled ahead fairly, or one ahead finished). */
export interface QueuedMessage {
  type: 'queued';
  jobId: string;
  position: number;
}

export interface StartedMessage {
  type: 'started';
  jobId: string;
  width: number;
  height: number;
  steps: number;
}

export interface ProgressMessage {
  type: 'progress';
  jobId: string;
  step: number;
  total: number;
  /** Estimated milliseconds until the images are ready. */
  etaMs: number;
  elapsedMs: number;
  /** Present when a binary `preview` frame (index = step) follows this message. */
  preview?: { width: number; height: number };
}

export interface ImageDescriptor {
  index: number;
  width: number;
  height: number;
  format: OutputFormat;
  /** sha256 hex of the binary frame's payload. */
  hash: string;
  bytes: number;
}

export interface ResultMetadata {
  /** Every parameter as used (seed filled in, defaults applied): send them back to regenerate. */
  params: Required<Pick<JobParams, 'prompt' | 'negativePrompt' | 'seed' | 'steps' | 'sampler' | 'guidance' | 'width' | 'height' | 'strength' | 'batchSize' | 'clipSkip'>> & JobParams;
  references: Array<Omit<ReferenceSpec, 'source' | 'hash'> & { hash: string | null }>;
  /** `detectedKeypoints`: the OpenPose JSON found by `pose-detect`, for the plugin to show and edit. */
  controls: Array<Omit<ControlSpec, 'source' | 'keypoints' | 'hash'> & { hash: string | null; detectedKeypoints?: object }>;
  /** Model role → file name and sha256, as reported by the engine. */
  models: Record<string, { name: string; sha256: string }>;
  /** The checkpoint's family (SD1.5 or SDXL), as the engine read it off the weights. */
  family?: 'sd15' | 'sdxl';
  /** Milliseconds per phase (engine phases plus `queue`, `decode`, `encode`, `total`). */
  timings: Record<string, number>;
  engine: string;
  /** Where the generated area sits in the init image, and the size of the returned image. */
  region?: { x: number; y: number; width: number; height: number };
  outputWidth: number;
  outputHeight: number;
  inputs: InputHashes;
}

/** Followed by one binary frame per image (role `result`) and per control image (role `control-result`). */
export interface ResultMessage {
  type: 'result';
  jobId: string;
  images: ImageDescriptor[];
  controlImages: ImageDescriptor[];
  metadata: ResultMetadata;
}

export type ErrorCode =
  | 'bad-json' | 'bad-message' | 'invalid-field' | 'hello-required' | 'version-mismatch'
  | 'bad-frame' | 'unexpected-frame' | 'hash-mismatch' | 'blob-missing' | 'image-decode' | 'frames-timeout'
  | 'duplicate-job' | 'unknown-job' | 'rate-limited' | 'queue-full'
  | 'engine-unavailable' | 'engine-error' | 'engine-crashed' | 'internal' | 'shutting-down'
  // Team front only: Redis (the job queue) cannot be reached; nothing was queued or changed.
  | 'queue-unavailable'
  // The engine's own refusals, so a client need not read the text (engine-error stays for the rest).
  | 'model-missing' | 'model-invalid' | 'model-mismatch' | 'no-face' | 'out-of-memory';

export interface ErrorMessage {
  type: 'error';
  code: ErrorCode;
  message: string;
  jobId?: string;
  /** Path of the offending field in the job message, e.g. `references[0].scale`. */
  field?: string;
  /** For `version-mismatch`: the protocol the daemon speaks. */
  serverProtocol?: number;
}

export type CancelReason = 'client' | 'disconnected' | 'shutdown';

export interface CancelledMessage {
  type: 'cancelled';
  jobId: string;
  reason: CancelReason;
}

export interface PongMessage {
  type: 'pong';
  nonce?: string | number;
}

export type ServerMessage =
  | WelcomeMessage | AcceptedMessage | QueuedMessage | StartedMessage | ProgressMessage | ResultMessage
  | ErrorMessage | CancelledMessage | PongMessage;
export type ServerMessageType = ServerMessage['type'];
