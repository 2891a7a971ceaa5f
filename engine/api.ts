/**
 * The engine's public surface: what the bridge (and the CLI's --local mode) calls.
 * Knows nothing about sockets or editors. Images are 8-bit sRGB RGBA, row-major, unpremultiplied.
 */
import type { ProbeResult } from './runtime/probe.ts';
import type { ProviderChoice, ProviderName } from './runtime/providers.ts';
import type { AdapterKind } from '../shared/protocol/messages.ts';
import type { ClipVisionVariant } from './weights/ip-adapter.ts';

export type { AdapterKind, ClipVisionVariant, ProbeResult, ProviderChoice, ProviderName };

export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  /** width * height * 4 bytes. */
  readonly data: Uint8Array;
}

/** Single-channel 8-bit mask, 255 = repaint. */
export interface MaskImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/**
 * Few-step samplers (LCM, TCD, Lightning, Turbo, Hyper-SD) carry the timestep spacing their model cards
 * specify in the name: `*-trailing` = diffusers' timestep_spacing "trailing", `sgm-uniform` = ComfyUI's
 * sgm_uniform sigmas with the Euler step.
 */
export type SamplerName = 'ddim' | 'euler' | 'euler-ancestral' | 'dpmpp-2m' | 'dpmpp-2m-karras' | 'lcm' | 'unipc'
  | 'tcd' | 'euler-trailing' | 'euler-ancestral-trailing' | 'ddim-trailing' | 'sgm-uniform';
export const SAMPLERS: readonly SamplerName[] = ['ddim', 'euler', 'euler-ancestral', 'dpmpp-2m', 'dpmpp-2m-karras', 'lcm', 'unipc',
  'tcd', 'euler-trailing', 'euler-ancestral-trailing', 'ddim-trailing', 'sgm-uniform'];

/** Per-block presets (ComfyUI_IPAdapter_plus-style): which attn2 layers get the image and how strongly. */
export type BlockPreset = 'reference' | 'style' | 'composition';
export type ControlType = 'pose' | 'canny' | 'depth';
export type ControlPreprocess = 'none' | 'pose-detect' | 'canny' | 'depth';

/** Fraction of the denoising schedule, 0 = first step, 1 = last. */
export interface StepRange {
  readonly start: number;
  readonly end: number;
}

export interface StyleReference {
  readonly image: RgbaImage;
  readonly adapter: AdapterKind;
  readonly scale: number;
  readonly preset: BlockPreset;
  readonly range: StepRange;
  /** Content hash of the image bytes, used to cache CLIP / face embeddings. */
  readonly hash?: string;
  /** Model name override (file name in the registry); otherwise the default for `adapter`. */
  readonly model?: string;
  /**
   * References with the same group share one adapter slot (the first one's scale, preset and range):
   * their tokens are concatenated, or their embeddings averaged before projection.
   */
  readonly group?: string;
  readonly combine?: 'concat' | 'average';
  /**
   * Regional image prompt: where this reference acts (gray, one byte per pixel, at the image size or
   * resized to it; ≥ 128 = inside), as diffusers' `ip_adapter_masks`. A masked reference is its own
   * adapter slot (its own softmax), whatever its `group`.
   */
  readonly mask?: MaskImage;
}

export interface ControlInput {
  readonly image: RgbaImage;
  readonly type: ControlType;
  readonly preprocess: ControlPreprocess;
  readonly scale: number;
  readonly range: StepRange;
  readonly guessMode: boolean;
  readonly model?: string;
  readonly hash?: string;
  /** canny thresholds (0–255) */
  readonly low?: number;
  readonly high?: number;
}

export interface GenerateParams {
  readonly prompt: string;
  readonly negativePrompt: string;
  readonly seed: number;
  readonly steps: number;
  readonly sampler: SamplerName;
  readonly guidance: number;
  readonly width: number;
  readonly height: number;
  /** img2img / inpaint denoising strength, 0–1. */
  readonly strength: number;
  readonly batchSize: number;
  readonly clipSkip: number;
  /** Seed variation: blend weight of a second noise (0 = none). */
  readonly variationSeed?: number;
  readonly variationStrength?: number;
  readonly checkpoint?: string;
  readonly loras?: ReadonlyArray<{ readonly model: string; readonly strength: number }>;
  /** Stochasticity of `tcd` (its gamma, default 0.3) and `ddim` / `ddim-trailing` (eta, default 0), 0–1. */
  readonly eta?: number;
  /**
   * Decode the final image with the tiny TAESD decoder instead of the full VAE (much faster, softer
   * detail; for live and draft work). Without a TAESD model installed the full VAE decodes.
   */
  readonly draftDecode?: boolean;
}

export interface GenerateRequest {
  readonly params: GenerateParams;
  readonly init?: RgbaImage;
  readonly mask?: MaskImage;
  readonly references: readonly StyleReference[];
  readonly controls: readonly ControlInput[];
}

export interface ProgressEvent {
  readonly step: number;
  readonly total: number;
  /**
   * Preview of the current denoised estimate, when asked for: a TAESD decode at full size (≤ 1 MPix)
   * when a TAESD model is installed, else a latent-resolution RGB approximation (no VAE).
   */
  readonly preview?: RgbaImage;
}

export interface GenerateOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (e: ProgressEvent) => void;
  readonly wantPreview?: boolean;
}

export interface GenerateResult {
  readonly images: RgbaImage[];
  /** Every parameter needed to regenerate exactly, plus model hashes and timings. */
  readonly metadata: GenerationMetadata;
  /** Processed control images (e.g. the detected pose skeleton), in request order. */
  readonly controlImages?: RgbaImage[];
  /** OpenPose keypoint JSON detected for each `pose-detect` control (undefined for others), so a plugin can show and edit it. */
  readonly controlKeypoints?: ReadonlyArray<object | undefined>;
}

export interface GenerationMetadata {
  readonly params: GenerateParams;
  /** Without pixels: the images and masks are the caller's (the bridge records their hashes). */
  readonly references: ReadonlyArray<Omit<StyleReference, 'image' | 'mask'> & { readonly masked?: boolean }>;
  readonly controls: ReadonlyArray<Omit<ControlInput, 'image'>>;
  readonly models: Readonly<Record<string, { readonly name: string; readonly sha256: string }>>;
  /** The checkpoint's family (its keys say): what the A1111 parameters and the plugins name. */
  readonly family?: 'sd15' | 'sdxl';
  readonly timings: Readonly<Record<string, number>>;
  readonly engine: string;
}

export interface ModelSummary {
  readonly name: string;
  readonly kind: string;
  readonly path: string;
  readonly bytes: number;
  readonly sha256?: string;
  /** The architecture its tensors say (checkpoints, LoRAs, adapters), where known. */
  readonly base?: 'sd15' | 'sd2' | 'sdxl' | 'sd3' | 'flux';
  /** The model a job that names none gets: one checkpoint across all checkpoint kinds, one per role for the rest. */
  readonly default?: boolean;
}

/** The execution provider a running engine uses, as the handshake and `doctor` report it. */
export interface RuntimeReport {
  readonly provider: ProviderName;
  /** Adapter or device name where onnxruntime or the system tells (undefined where it does not). */
  readonly device?: string;
  /** Whether the graphs compute in fp16. */
  readonly fp16: boolean;
  /** Why this provider: "asked for", or which candidates `auto` skipped and why. */
  readonly reason: string;
  /** Every probe run to choose it. */
  readonly probes: readonly ProbeResult[];
}

export interface Engine {
  /** Name of the execution provider in use, e.g. "cpu", "webgpu" or "cuda". */
  readonly provider: string;
  /** Provider details; absent for engines that run no onnxruntime (the test engine). */
  readonly runtime?: RuntimeReport;
  generate(req: GenerateRequest, opts?: GenerateOptions): Promise<GenerateResult>;
  listModels(): Promise<ModelSummary[]>;
  dispose(): Promise<void>;
}

/**
 * What an EngineError is about; the daemon maps each onto a protocol error code (bridge/jobs.ts), so a
 * plugin tells "model missing" from "no face found" without reading the text.
 */
export type EngineErrorCode =
  /** A request field the engine cannot use (size not a multiple of 8, a group mixing adapters…). */
  | 'invalid-field'
  | 'invalid-control'
  | 'invalid-keypoints'
  /** A model the job needs is not installed; the message names it and the command that fetches it. */
  | 'model-missing'
  /** A model file is there but cannot be loaded (truncated, not the expected ONNX model). */
  | 'model-invalid'
  /** A named model fills another role than the one asked for. */
  | 'model-wrong-type'
  /** A model does not fit the checkpoint (an SDXL adapter or ControlNet for an SD1.5 UNet). */
  | 'model-mismatch'
  /** FaceID found no face in the image (`field` names it). */
  | 'no-face'
  /** FaceID: the face index asked for is not among the faces found. */
  | 'face-index'
  | 'out-of-memory'
  /** The engine process cannot take jobs (failed to start, restarting, shutting down). */
  | 'engine-unavailable'
  /** The engine process died during the job. */
  | 'engine-crashed';

export const ENGINE_ERROR_CODES: readonly EngineErrorCode[] = [
  'invalid-field', 'invalid-control', 'invalid-keypoints', 'model-missing', 'model-invalid', 'model-wrong-type', 'model-mismatch',
  'no-face', 'face-index', 'out-of-memory', 'engine-unavailable', 'engine-crashed',
];

/** Raised for anything the user can fix; `field` is the request path it concerns. */
export class EngineError extends Error {
  constructor(readonly code: EngineErrorCode, message: string, readonly field?: string) {
    super(message);
    this.name = 'EngineError';
  }
}

export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

/** A model file the engine can load (found by the bridge's registry, or given directly). */
export interface LocatedModel {
  readonly name: string;
  readonly path: string;
  readonly sha256?: string;
}

/** What the engine needs a model for: `kind` or `kind:variant` (a bare kind accepts any variant). */
export type Role =
  | 'checkpoint'
  | 'checkpoint:inpaint'
  | 'checkpoint:sdxl'
  | 'checkpoint:sdxl-inpaint'
  | 'tokenizer'
  | 'lora'
  | 'clip_vision'
  | `clip_vision:${ClipVisionVariant}`
  | `ipadapter:${AdapterKind}`
  | `controlnet:${ControlType}`
  /** SDXL's UNet-bound models (an SD1.5 adapter or ControlNet cannot serve an SDXL UNet, nor the reverse). */
  | `ipadapter:sdxl-${AdapterKind}`
  | `controlnet:sdxl-${ControlType}`
  | 'insightface:detector'
  | 'insightface:recognizer'
  | 'dwpose:detector'
  | 'dwpose:pose'
  | 'depth'
  /** TAESD tiny decoders (previews, draft decodes): SD1.5 / SDXL latents. */
  | 'vae:taesd'
  | 'vae:taesdxl'
  /** TAESD tiny encoders (live jobs' init images); a diffusers AutoencoderTiny file serves as vae:taesd too. */
  | 'vae:taesd-encoder'
  | 'vae:taesdxl-encoder'
  /** madebyollin/sdxl-vae-fp16-fix: decodes SDXL latents in fp16 without overflowing. */
  | 'vae:sdxl-fp16-fix';

/**
 * How the engine finds model files by role. `find` throws an EngineError ('model-missing') naming the
 * model and the command that fetches it.
 */
export interface ModelLocator {
  find(role: Role, name?: string): LocatedModel;
  list(): Promise<ModelSummary[]>;
}

export interface EngineOptions {
  /** The provider chosen (by selectProvider) for this engine, and whether it computes in fp16. */
  readonly provider: ProviderName;
  readonly fp16?: boolean;
  readonly models: ModelLocator;
  /** Graph and session cache folder (default: the user cache folder). */
  readonly cacheDir?: string;
  readonly threads?: number;
}

/** What `createEngine` takes: a provider choice (`auto` probes), resolved before the engine exists. */
export interface EngineCreateOptions extends Omit<EngineOptions, 'provider' | 'fp16'> {
  readonly provider: ProviderChoice;
  /** Use fp16 compute where the provider supports it (default true). */
  readonly fp16?: boolean;
  /** Told about each candidate `auto` skipped (one log line each). */
  readonly onSkip?: (p: ProbeResult) => void;
}
