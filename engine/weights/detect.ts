/**
 * Tells what a model file is from its tensor names and shapes (never from its file name, except
 * where the keys cannot tell: ControlNet control type, FaceID-Plus v1 vs v2, ONNX models, and
 * PyTorch pickles, which are never unpickled).
 *
 * Known layouts (confirmed against diffusers, tencent-ailab IP-Adapter, ComfyUI_IPAdapter_plus,
 * sd-webui-controlnet and kohya sd-scripts naming):
 * - LDM single file: `model.diffusion_model.*`, `first_stage_model.*`, `cond_stage_model.transformer.*`
 *   (SD1.x); `cond_stage_model.model.*` is SD2 (OpenCLIP); `conditioner.embedders.*` is SDXL.
 * - diffusers components: UNet (`down_blocks.*`, `up_blocks.*`, `time_embedding.*`), VAE
 *   (`encoder.down_blocks.*`), CLIP text (`text_model.encoder.layers.*`).
 * - ControlNet: lllyasviel (`input_hint_block.*`, `zero_convs.*`, optional `control_model.` prefix),
 *   diffusers (`controlnet_cond_embedding.*`, `controlnet_down_blocks.*`).
 * - h94 IP-Adapter: `image_proj.*` + `ip_adapter.<i>.to_{k,v}_ip.weight`; the projection tells the
 *   variant (see `ipAdapterVariant`).
 * - CLIP vision (transformers naming): `vision_model.*`, `visual_projection.weight`.
 * - LoRA: kohya `lora_unet_*` / `lora_te*_*` with `.lora_down/.lora_up/.alpha`, diffusers/peft
 *   `.lora_A/.lora_B` or `.lora.down/.lora.up`.
 */
import { closeSync, openSync, readSync, readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { adapterKindFromName, describeIpAdapter, IpAdapterLayoutError, isPlusV2Name, type ClipVisionVariant, type IpAdapterFileKind } from './ip-adapter.ts';
import { SafetensorsFile } from './safetensors.ts';
import { isTaesdXlName, taesdLayout } from './taesd.ts';

export type ModelKind =
  | 'checkpoint'
  | 'diffusers'
  | 'unet'
  | 'vae'
  | 'text_encoder'
  | 'controlnet'
  | 'ipadapter'
  | 'clip_vision'
  | 'lora'
  | 'insightface'
  | 'dwpose'
  | 'depth'
  | 'tokenizer';

/** The Stable Diffusion family a file belongs to; `sd15` and `sdxl` are generated with. */
export type BaseModel = 'sd15' | 'sd2' | 'sdxl' | 'sd3' | 'flux';

export type WeightFormat =
  | 'ldm'
  | 'diffusers'
  | 'lllyasviel'
  | 'h94'
  | 'hf-clip'
  | 'openclip'
  | 'kohya'
  | 'peft'
  | 'onnx'
  | 'pickle'
  | 'bpe'
  /** madebyollin's taesd.py files (taesd_decoder.safetensors…): bare Sequential indices. */
  | 'taesd';

/** An IP-Adapter's variant is its kind (weights/ip-adapter.ts decides it, for the registry and the engine alike). */
export type IpAdapterVariant = IpAdapterFileKind;
export type { ClipVisionVariant };
export type ControlType = 'pose' | 'canny' | 'depth' | 'other';

/** Sizes read off the tensors; which ones are set depends on the kind. */
export interface DetectionDetails {
  /** Context width of cross-attention (768 for SD1.5), from an attn2 to_k / to_k_ip weight. */
  readonly crossAttentionDim?: number;
  /** Image prompt tokens an IP-Adapter produces (4 base/FaceID, 16 Plus/Portrait). */
  readonly tokens?: number;
  /** IP-Adapter: width of the CLIP input it projects (image_embeds or penultimate hidden states). */
  readonly imageEmbedDim?: number;
  /** FaceID: width of the insightface embedding (512). */
  readonly faceEmbedDim?: number;
  /** The image encoder an IP-Adapter needs, when its input width identifies one. */
  readonly clipVision?: ClipVisionVariant;
  /** Number of decoupled cross-attention layers in an IP-Adapter (16 for SD1.5). */
  readonly ipLayers?: number;
  readonly hasLora?: boolean;
  readonly loraRank?: number;
  /** Transformer width (CLIP text / vision). */
  readonly hiddenSize?: number;
  readonly projectionDim?: number;
  readonly layers?: number;
  readonly patchSize?: number;
  readonly vocabSize?: number;
  /** UNet input channels (4 = txt2img/img2img; 9 = inpainting checkpoints). */
  readonly inChannels?: number;
  /** ControlNet residual outputs (12 down + mid for SD1.5 → 12). */
  readonly residuals?: number;
  /** Single-file checkpoint / diffusers folder: which of unet, vae, text_encoder are present. */
  readonly components?: readonly string[];
  /** lllyasviel ControlNet stored under `control_model.`. */
  readonly prefix?: string;
  /** IP-Adapter Plus trained on faces (plus-face), by file name. */
  readonly face?: boolean;
  readonly tensorCount?: number;
}

export interface Detection {
  readonly kind: ModelKind;
  readonly variant?: string;
  /** SD family for UNet-bound files (checkpoints, ControlNets, IP-Adapters, LoRAs); null if not tied to one. */
  readonly base: BaseModel | null;
  readonly format: WeightFormat;
  readonly details: DetectionDetails;
  /** False for files recognised but not usable (SDXL, SD2, inpainting UNets, full-face adapters…). */
  readonly supported: boolean;
  /** Why it is unsupported, in words a user can act on. */
  readonly reason?: string;
  /** What the classification rests on: tensors, the file name, or tensors plus a name tie-break. */
  readonly evidence: 'keys' | 'name' | 'keys+name';
}

export class UnsupportedModelError extends Error {
  constructor(readonly file: string, readonly reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'UnsupportedModelError';
  }
}

/** Anything with tensor names and shapes: a SafetensorsFile's `tensors` map fits. */
export type TensorShapes = ReadonlyMap<string, { readonly shape: readonly number[] }>;

/** Optional hint from where the file was found (e.g. the ComfyUI `ipadapter` folder). */
export interface DetectHint {
  readonly folderKind?: ModelKind;
  /**
   * A longer name to classify by where the file name alone cannot tell, e.g. a Hugging Face cache
   * file `onnx-community/depth-anything-v2-small/onnx/model.onnx` (the repo names what it is).
   */
  readonly name?: string;
}

export const WEIGHT_EXTENSIONS = ['.safetensors', '.onnx', '.bin', '.pt', '.pth', '.ckpt'] as const;

// ---------------------------------------------------------------------------------------------
// Entry points

/** Classifies a file or a folder (diffusers pipeline / component folder, tokenizer folder). */
export function detectPath(path: string, hint: DetectHint = {}): Detection {
  const st = statSync(path);
  if (st.isDirectory()) {
    const d = detectDirectory(path);
    if (!d) throw new UnsupportedModelError(path, 'folder is not a diffusers model (no model_index.json or config.json with weights) nor a tokenizer (vocab.json + merges.txt)');
    return d;
  }
  return detectFile(path, hint);
}

export function detectFile(path: string, hint: DetectHint = {}): Detection {
  const ext = extname(path).toLowerCase();
  const name = hint.name ?? basename(path);
  if (ext === '.safetensors') {
    const f = SafetensorsFile.open(path);
    return detectTensors(name, f.tensors, path);
  }
  if (ext === '.onnx') return detectOnnx(path, hint.name);
  if (ext === '.bin' || ext === '.pt' || ext === '.pth' || ext === '.ckpt') return detectPickle(path, hint);
  throw new UnsupportedModelError(path, `unknown file type "${ext}"; model files are ${WEIGHT_EXTENSIONS.join(', ')}`);
}

/**
 * Classifies a tensor listing. `name` (the file name) is only used as a tie-break; `file` names
 * the file in errors.
 */
export function detectTensors(name: string, tensors: TensorShapes, file: string = name): Detection {
  const t = new Tensors(tensors);
  const lower = name.toLowerCase();
  if (t.size === 0) throw new UnsupportedModelError(file, 'contains no tensors');
  const found =
    detectNonSd(t) ??
    detectLdmCheckpoint(t) ??
    detectIpAdapter(t, lower) ??
    detectControlNet(t, lower) ??
    detectLora(t, lower) ??
    detectDiffusersUnet(t) ??
    detectLdmUnet(t) ??
    detectTaesd(t, lower) ??
    detectVae(t, lower) ??
    detectClipVision(t) ??
    detectClipText(t);
  if (found) return { ...found, details: { ...found.details, tensorCount: t.size } };
  throw new UnsupportedModelError(file, `not a model ipa-bridge recognises (${t.size} tensors, e.g. ${t.sample(4).join(', ')})`);
}

/** Throws the clear error for a recognised-but-unsupported file; returns it otherwise. */
export function requireSupported(d: Detection, file: string): Detection {
  if (!d.supported) throw new UnsupportedModelError(file, d.reason ?? 'unsupported model');
  return d;
}

// ---------------------------------------------------------------------------------------------
// Tensor listing helpers

class Tensors {
  readonly size: number;
  private readonly names: string[];
  constructor(private readonly map: TensorShapes) {
    this.names = [...map.keys()];
    this.size = this.names.length;
  }
  has(key: string): boolean {
    return this.map.has(key);
  }
  keys(): readonly string[] {
    return this.names;
  }
  shape(key: string): readonly number[] | undefined {
    return this.map.get(key)?.shape;
  }
  dim(key: string, i: number): number | undefined {
    return this.map.get(key)?.shape[i];
  }
  any(prefix: string): boolean {
    return this.names.some((k) => k.startsWith(prefix));
  }
  find(re: RegExp): string | undefined {
    return this.names.find((k) => re.test(k));
  }
  filter(re: RegExp): string[] {
    return this.names.filter((k) => re.test(k));
  }
  /** Distinct values of capture group 1 of `re` (layer indices). */
  indices(re: RegExp): number[] {
    const s = new Set<number>();
    for (const k of this.names) {
      const m = re.exec(k);
      if (m) s.add(Number(m[1]));
    }
    return [...s].sort((a, b) => a - b);
  }
  sample(n: number): string[] {
    return this.names.slice(0, n);
  }
}

type Found = Omit<Detection, 'details'> & { details: DetectionDetails };

const UNSUPPORTED_BASE: Record<Exclude<BaseModel, 'sd15'>, string> = {
  sd2: 'Stable Diffusion 2.x',
  sdxl: 'SDXL',
  sd3: 'Stable Diffusion 3',
  flux: 'FLUX',
};

/** The families ipa-bridge generates with. */
export const GENERATED_BASES: readonly BaseModel[] = ['sd15', 'sdxl'];

/** Supported iff SD1.5 or SDXL; otherwise a reason that names the family. */
function baseVerdict(base: BaseModel | null, what: string): Pick<Detection, 'supported' | 'reason'> {
  if (base === null || GENERATED_BASES.includes(base)) return { supported: true };
  return { supported: false, reason: `${UNSUPPORTED_BASE[base as Exclude<BaseModel, 'sd15'>]} ${what}: ipa-bridge generates with Stable Diffusion 1.5 and SDXL only` };
}

/**
 * Tiny test models have neither SD1.5's nor SDXL's widths, so their tensors cannot tell the family
 * of an adapter; a name saying "sdxl" (ip-adapter_sdxl, ip-adapter-plus_sdxl_vit-h…) then decides.
 */
function baseFromCrossDimOrName(dim: number | undefined, lowerName: string): BaseModel {
  const byDim = baseFromCrossDim(dim);
  if (byDim === 'sd15' && dim !== 768 && /sdxl/.test(lowerName)) return 'sdxl';
  return byDim;
}

/** SD family from a cross-attention context width; tiny test models (other widths) count as SD1.5 topology. */
function baseFromCrossDim(dim: number | undefined): BaseModel {
  if (dim === 1024) return 'sd2';
  if (dim === 2048) return 'sdxl';
  return 'sd15';
}

function firstDim(t: Tensors, re: RegExp, i: number): number | undefined {
  const k = t.find(re);
  return k === undefined ? undefined : t.dim(k, i);
}

// ---------------------------------------------------------------------------------------------
// Families we recognise only to refuse them clearly

function detectNonSd(t: Tensors): Found | null {
  const flux = t.any('double_blocks.') || t.any('model.diffusion_model.double_blocks.');
  const sd3 = t.any('joint_blocks.') || t.any('model.diffusion_model.joint_blocks.');
  if (!flux && !sd3) return null;
  const base: BaseModel = flux ? 'flux' : 'sd3';
  return { kind: 'checkpoint', variant: base, base, format: 'ldm', details: {}, evidence: 'keys', ...baseVerdict(base, 'model') };
}

// ---------------------------------------------------------------------------------------------
// Single-file LDM checkpoints

function detectLdmCheckpoint(t: Tensors): Found | null {
  if (!t.any('model.diffusion_model.')) return null;
  const crossDim = firstDim(t, /^model\.diffusion_model\..*attn2\.to_k\.weight$/, 1);
  const inChannels = t.dim('model.diffusion_model.input_blocks.0.0.weight', 1);
  const components = ['unet'];
  if (t.any('first_stage_model.')) components.push('vae');
  if (t.any('cond_stage_model.') || t.any('conditioner.embedders.0.transformer.')) components.push('text_encoder');
  if (t.any('conditioner.embedders.1.model.')) components.push('text_encoder_2');
  let base: BaseModel;
  // SDXL by its embedders (diffusers' own detector keys on resblocks.9 of embedder 1, which small
  // and pruned towers lack) or by its UNet's label_emb (the text_time embedding).
  if (t.any('conditioner.embedders.') || t.has('model.diffusion_model.label_emb.0.0.weight')) base = 'sdxl';
  else if (t.any('cond_stage_model.model.')) base = 'sd2';
  else base = baseFromCrossDim(crossDim);
  const details: DetectionDetails = { crossAttentionDim: crossDim, inChannels, components };
  if (base === 'sdxl' && !(components.includes('text_encoder') && components.includes('text_encoder_2'))) {
    // The refiner has only the OpenCLIP encoder (conditioner.embedders.0.model.*) and another add_embedding width.
    const refiner = t.any('conditioner.embedders.0.model.');
    return {
      kind: 'checkpoint', variant: base, base, format: 'ldm', details, evidence: 'keys', supported: false,
      reason: refiner ? 'an SDXL refiner checkpoint (one OpenCLIP text encoder); ipa-bridge generates with SDXL base models' : 'an SDXL checkpoint without both text encoders (conditioner.embedders.0.transformer.* and conditioner.embedders.1.model.*)',
    };
  }
  const verdict = baseVerdict(base, 'checkpoint');
  if (verdict.supported && inChannels !== undefined && !USABLE_IN_CHANNELS.has(inChannels)) {
    return {
      kind: 'checkpoint', variant: base, base, format: 'ldm', details, evidence: 'keys', supported: false,
      reason: `UNet takes ${inChannels} input channels (an instruct checkpoint?); ipa-bridge uses standard (4-channel) and inpainting (9-channel) checkpoints`,
    };
  }
  return { kind: 'checkpoint', variant: base, base, format: 'ldm', details, evidence: 'keys', ...verdict };
}

/** 4 = standard; 9 = inpainting (latents + mask + masked-image latents). */
const USABLE_IN_CHANNELS: ReadonlySet<number> = new Set([4, 9]);

// ---------------------------------------------------------------------------------------------
// IP-Adapter (h94 layout)

function detectIpAdapter(t: Tensors, lowerName: string): Found | null {
  // Training checkpoints name the attention processors `adapter_modules.*` instead of `ip_adapter.*`.
  const mod = t.any('ip_adapter.') ? 'ip_adapter' : t.any('adapter_modules.') ? 'adapter_modules' : undefined;
  if (!t.any('image_proj.') || !mod) return null;
  const ipLayers = t.indices(new RegExp(`^${mod}\\.(\\d+)\\.to_k_ip\\.weight$`));
  const crossDim = firstDim(t, new RegExp(`^${mod}\\.\\d+\\.to_k_ip\\.weight$`), 1);
  // SD1.5 has 16 attn2 layers; SDXL 70. Tiny test models: the name decides.
  const base: BaseModel = crossDim === 2048 || ipLayers.length === 70 ? 'sdxl' : baseFromCrossDimOrName(crossDim, lowerName);
  let d;
  try {
    d = describeIpAdapter({ keys: () => t.keys(), shape: (k) => t.shape(k) }, lowerName);
  } catch (e) {
    if (!(e instanceof IpAdapterLayoutError)) throw e;
    return {
      kind: 'ipadapter', variant: 'unknown', base, format: 'h94', details: { crossAttentionDim: crossDim, ipLayers: ipLayers.length }, evidence: 'keys',
      supported: false, reason: `IP-Adapter with an unknown image projection (image_proj keys: ${t.filter(/^image_proj\./).slice(0, 4).join(', ')})`,
    };
  }
  const details: DetectionDetails = {
    crossAttentionDim: crossDim,
    ipLayers: ipLayers.length,
    hasLora: d.hasLora,
    loraRank: d.loraRank,
    tokens: d.numTokens,
    imageEmbedDim: d.inputs.find((i) => i.name !== 'faceid_embeds')?.width,
    faceEmbedDim: d.inputs.find((i) => i.name === 'faceid_embeds')?.width,
    clipVision: d.clipVision,
    face: d.face,
    layers: d.resampler?.depth,
  };
  const verdict = d.kind === 'full-face'
    ? { supported: false, reason: 'IP-Adapter full-face (257-token MLP projection) is not supported; use ip-adapter-plus-face_sd15 or a FaceID adapter' }
    : baseVerdict(base, 'IP-Adapter');
  // FaceID-Plus v1 and v2 have the same tensors: the file name decided.
  const byName = d.projection === 'proj-plus' || d.face === true;
  return { kind: 'ipadapter', variant: d.kind, base, format: 'h94', details, evidence: byName ? 'keys+name' : 'keys', ...verdict };
}

// ---------------------------------------------------------------------------------------------
// ControlNet

/** Control type cannot be read from weights; the file (or folder) name says it. */
export function controlTypeFromName(lowerName: string): ControlType {
  if (/pose/.test(lowerName)) return 'pose';
  if (/canny/.test(lowerName)) return 'canny';
  if (/depth|midas|zoe/.test(lowerName)) return 'depth';
  return 'other';
}

function detectControlNet(t: Tensors, lowerName: string): Found | null {
  if (t.any('lora_controlnet')) {
    return { kind: 'controlnet', variant: controlTypeFromName(lowerName), base: null, format: 'lllyasviel', details: {}, evidence: 'keys', supported: false, reason: 'Control-LoRA files are not supported; use a full ControlNet' };
  }
  const variant = controlTypeFromName(lowerName);
  const evidence = variant === 'other' ? 'keys' : 'keys+name';
  // xinsir controlnet-union / promax (diffusers ControlNetUnionModel): a task embedding and a
  // transformer over the control types. Not verified against a reference yet: refused by name.
  if (t.any('task_embedding') || t.any('control_add_embedding.') || t.any('transformer_layes.') || t.any('control_type_proj.')) {
    return { kind: 'controlnet', variant: 'union', base: 'sdxl', format: 'diffusers', details: {}, evidence: 'keys', supported: false, reason: 'a ControlNet Union model (xinsir controlnet-union-sdxl / promax) is not supported yet; use a single-type SDXL ControlNet (openpose, canny, depth)' };
  }
  if (t.any('controlnet_cond_embedding.') || t.any('controlnet_down_blocks.')) {
    const crossDim = firstDim(t, /attn2\.to_k\.weight$/, 1);
    const base: BaseModel = t.any('add_embedding.') ? 'sdxl' : baseFromCrossDim(crossDim);
    const residuals = t.indices(/^controlnet_down_blocks\.(\d+)\.weight$/).length;
    return { kind: 'controlnet', variant, base, format: 'diffusers', details: { crossAttentionDim: crossDim, residuals }, evidence, ...baseVerdict(base, 'ControlNet') };
  }
  for (const prefix of ['', 'control_model.']) {
    if (!t.any(`${prefix}input_hint_block.`) || !t.any(`${prefix}zero_convs.`)) continue;
    const crossDim = firstDim(t, new RegExp(`^${prefix.replace('.', '\\.')}input_blocks\\..*attn2\\.to_k\\.weight$`), 1);
    const residuals = t.indices(new RegExp(`^${prefix.replace('.', '\\.')}zero_convs\\.(\\d+)\\.`)).length;
    const base: BaseModel = t.any(`${prefix}label_emb.`) ? 'sdxl' : baseFromCrossDim(crossDim);
    return {
      kind: 'controlnet', variant, base, format: 'lllyasviel',
      details: { crossAttentionDim: crossDim, residuals, prefix: prefix || undefined },
      evidence, ...baseVerdict(base, 'ControlNet'),
    };
  }
  if (t.any('adapter.body.') || t.any('body.0.resnets.')) {
    return { kind: 'controlnet', variant, base: null, format: 'lllyasviel', details: {}, evidence, supported: false, reason: 'T2I-Adapter files are not supported; use a ControlNet' };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// LoRA

/** FaceID companion LoRAs are named after their adapter. */
function faceIdLoraVariant(lowerName: string): string | undefined {
  if (!lowerName.includes('faceid')) return undefined;
  if (isPlusV2Name(lowerName)) return 'faceid-plusv2';
  if (lowerName.includes('plus')) return 'faceid-plus';
  return 'faceid';
}

function detectLora(t: Tensors, lowerName: string): Found | null {
  const kohya = t.any('lora_unet_') || t.any('lora_te_') || t.any('lora_te1_') || t.any('lora_te2_');
  // peft (.lora_A), diffusers (.lora.down, .lora_linear_layer.down) and old attn-processor (to_k_lora.down) names.
  const peft = t.find(/\.lora_A(\.default)?\.weight$|[._]lora\.down\.weight$|\.lora_linear_layer\.down\.weight$/) !== undefined;
  if (!kohya && !peft) return null;
  if (t.find(/\.hada_w1_a$|\.lokr_w1$|\.lokr_w1_a$/)) {
    return { kind: 'lora', base: null, format: 'kohya', details: {}, evidence: 'keys', supported: false, reason: 'LyCORIS LoHa/LoKr files are not supported; use a plain LoRA' };
  }
  const down = t.find(/\.lora_down\.weight$|\.lora_A(\.default)?\.weight$|[._]lora\.down\.weight$|\.lora_linear_layer\.down\.weight$/);
  const toKDown = t.find(/attn2[._](processor\.)?to_k(\.|_)?(lora_down|lora_A|lora\.down|lora_linear_layer\.down)/);
  const crossDim = toKDown === undefined ? undefined : t.dim(toKDown, 1);
  const base: BaseModel = t.any('lora_te2_') || t.any('text_encoder_2.') ? 'sdxl' : baseFromCrossDim(crossDim);
  const variant = faceIdLoraVariant(lowerName);
  return {
    kind: 'lora', variant, base, format: kohya ? 'kohya' : 'peft',
    details: { crossAttentionDim: crossDim, loraRank: down === undefined ? undefined : t.dim(down, 0) },
    evidence: variant ? 'keys+name' : 'keys', ...baseVerdict(base, 'LoRA'),
  };
}

// ---------------------------------------------------------------------------------------------
// diffusers / LDM components

function detectDiffusersUnet(t: Tensors): Found | null {
  if (!t.has('conv_in.weight') || !t.any('down_blocks.') || !t.any('up_blocks.') || !t.any('time_embedding.')) return null;
  const crossDim = firstDim(t, /attn2\.to_k\.weight$/, 1);
  const base: BaseModel = t.any('add_embedding.') ? 'sdxl' : baseFromCrossDim(crossDim);
  const inChannels = t.dim('conv_in.weight', 1);
  const verdict = baseVerdict(base, 'UNet');
  const unusable = verdict.supported && inChannels !== undefined && !USABLE_IN_CHANNELS.has(inChannels);
  return {
    kind: 'unet', variant: base, base, format: 'diffusers', details: { crossAttentionDim: crossDim, inChannels }, evidence: 'keys',
    ...(unusable ? { supported: false, reason: `UNet takes ${inChannels} input channels (an instruct UNet?); ipa-bridge uses 4-channel and 9-channel (inpainting) UNets` } : verdict),
  };
}

/** An LDM-named UNet without the `model.diffusion_model.` prefix (ComfyUI `unet/` folder). */
function detectLdmUnet(t: Tensors): Found | null {
  if (!t.has('input_blocks.0.0.weight') || !t.any('output_blocks.') || !t.any('time_embed.')) return null;
  const crossDim = firstDim(t, /^input_blocks\..*attn2\.to_k\.weight$/, 1);
  const base: BaseModel = t.any('label_emb.') ? 'sdxl' : baseFromCrossDim(crossDim);
  return { kind: 'unet', variant: base, base, format: 'ldm', details: { crossAttentionDim: crossDim, inChannels: t.dim('input_blocks.0.0.weight', 1) }, evidence: 'keys', ...baseVerdict(base, 'UNet') };
}

/**
 * TAESD / TAESDXL (AutoencoderTiny) in either layout (weights/taesd.ts). Kind vae, variant taesd or
 * taesdxl (by name: the tensors are the same), `-encoder` for taesd.py's encoder-only files.
 */
function detectTaesd(t: Tensors, lowerName: string): Found | null {
  const layout = taesdLayout(t.keys());
  if (!layout) return null;
  const decoder = layout !== 'taesd-encoder';
  const lastEncoderConv = t.indices(/^(?:encoder\.layers\.)?(\d+)\.weight$/).pop();
  const latent = decoder ? t.dim('decoder.layers.0.weight', 1) ?? t.dim('1.weight', 1) : t.dim(`${lastEncoderConv}.weight`, 0);
  const format: WeightFormat = layout === 'diffusers' ? 'diffusers' : 'taesd';
  const variant = `${isTaesdXlName(lowerName) ? 'taesdxl' : 'taesd'}${decoder ? '' : '-encoder'}`;
  const components = layout === 'diffusers' ? ['decoder', 'encoder'].filter((p) => t.any(`${p}.layers.`)) : [decoder ? 'decoder' : 'encoder'];
  if (latent !== 4) {
    return { kind: 'vae', variant, base: null, format, details: { components }, evidence: 'keys+name', supported: false, reason: `a ${latent}-channel tiny autoencoder (TAESD3 / TAEF1?); ipa-bridge's TAESD previews decode 4-channel SD latents` };
  }
  return { kind: 'vae', variant, base: null, format, details: { components }, evidence: 'keys+name', supported: true };
}

/** madebyollin's sdxl-vae-fp16-fix: the SDXL VAE finetuned to stay in fp16's range (same tensors, by name). */
export const isSdxlFp16FixName = (lowerName: string): boolean => /fp16[-_ .]?fix/.test(lowerName);

function detectVae(t: Tensors, lowerName: string): Found | null {
  const diffusers = t.any('encoder.down_blocks.') || t.any('decoder.up_blocks.');
  const ldm = t.any('encoder.down.') || t.any('decoder.up.');
  if (!diffusers && !ldm) return null;
  const latent = t.dim('post_quant_conv.weight', 0) ?? t.dim('decoder.conv_in.weight', 1);
  // SD1/2/XL VAEs have 4 latent channels; SD3/FLUX 16.
  if (latent === 16) {
    return { kind: 'vae', base: 'sd3', format: diffusers ? 'diffusers' : 'ldm', details: {}, evidence: 'keys', supported: false, reason: 'a 16-channel (SD3/FLUX) VAE; SD1.5 needs a 4-channel VAE' };
  }
  if (isSdxlFp16FixName(lowerName)) return { kind: 'vae', variant: 'sdxl-fp16-fix', base: 'sdxl', format: diffusers ? 'diffusers' : 'ldm', details: { components: ['vae'] }, evidence: 'keys+name', supported: true };
  return { kind: 'vae', base: null, format: diffusers ? 'diffusers' : 'ldm', details: { components: ['vae'] }, evidence: 'keys', supported: true };
}

function detectClipVision(t: Tensors): Found | null {
  if (t.any('visual.transformer.resblocks.')) {
    return { kind: 'clip_vision', variant: 'custom', base: null, format: 'openclip', details: {}, evidence: 'keys', supported: false, reason: 'an OpenCLIP-format image encoder; use the Hugging Face format (h94/IP-Adapter models/image_encoder/model.safetensors)' };
  }
  const patch = t.shape('vision_model.embeddings.patch_embedding.weight');
  if (!patch) return null;
  const hiddenSize = patch[0];
  const variant: ClipVisionVariant =
    hiddenSize === 1280 ? 'vit-h' : hiddenSize === 1664 ? 'vit-bigG' : hiddenSize === 1024 ? 'vit-l' : hiddenSize === 768 ? 'vit-b' : 'custom';
  return {
    kind: 'clip_vision', variant, base: null, format: 'hf-clip',
    details: { hiddenSize, patchSize: patch[2], layers: t.indices(/^vision_model\.encoder\.layers\.(\d+)\./).length, projectionDim: t.dim('visual_projection.weight', 0) },
    evidence: 'keys', supported: true,
  };
}

function detectClipText(t: Tensors): Found | null {
  const emb = t.shape('text_model.embeddings.token_embedding.weight');
  if (!emb || !t.any('text_model.encoder.layers.')) return null;
  const hiddenSize = emb[1];
  const variant = hiddenSize === 768 ? 'clip-l' : hiddenSize === 1024 ? 'openclip-h' : hiddenSize === 1280 ? 'clip-bigG' : 'custom';
  const base: BaseModel | null = hiddenSize === 1024 ? 'sd2' : hiddenSize === 1280 ? 'sdxl' : hiddenSize === 768 ? 'sd15' : null;
  return {
    kind: 'text_encoder', variant, base, format: 'hf-clip',
    details: { hiddenSize, vocabSize: emb[0], layers: t.indices(/^text_model\.encoder\.layers\.(\d+)\./).length, projectionDim: t.dim('text_projection.weight', 0) },
    evidence: 'keys', ...baseVerdict(base, 'text encoder'),
  };
}

// ---------------------------------------------------------------------------------------------
// ONNX (classified by name after checking the bytes are an ONNX ModelProto)

interface OnnxRule {
  readonly re: RegExp;
  readonly kind: ModelKind;
  readonly variant?: string;
  readonly unsupported?: string;
}

const ONNX_RULES: readonly OnnxRule[] = [
  { re: /^(det_10g|scrfd_10g_bnkps)\.onnx$/, kind: 'insightface', variant: 'detector' },
  { re: /^w600k_r50\.onnx$/, kind: 'insightface', variant: 'recognizer' },
  { re: /^(1k3d68|2d106det|genderage)\.onnx$/, kind: 'insightface', variant: 'auxiliary', unsupported: 'an insightface landmark/attribute model; FaceID only uses det_10g.onnx and w600k_r50.onnx' },
  { re: /^yolox_[a-z]+\.onnx$/, kind: 'dwpose', variant: 'detector' },
  { re: /^dw-?ll_ucoco(_384)?\.onnx$/, kind: 'dwpose', variant: 'pose' },
  { re: /depth[-_ ]?anything/, kind: 'depth', variant: 'depth-anything' },
];

/** First bytes of an ONNX ModelProto: field 1 (ir_version, varint) or another known top-level field. */
export function looksLikeOnnx(head: Uint8Array): boolean {
  if (head.length < 4) return false;
  // ModelProto fields: 1 ir_version, 2 producer_name, 3 producer_version, 4 domain, 5 model_version,
  // 6 doc_string, 7 graph, 8 opset_import, 14 metadata_props, 20 training_info, 25 functions.
  const lengthDelimited = new Set([2, 3, 4, 6, 7, 8, 14, 20, 25]);
  let pos = 0;
  for (let fields = 0; fields < 3 && pos < head.length; fields++) {
    const tag = readVarint(head, pos);
    if (!tag) return false;
    pos = tag.next;
    const field = tag.value >> 3;
    const wire = tag.value & 7;
    if (wire === 0 && (field === 1 || field === 5)) {
      const v = readVarint(head, pos);
      if (!v || (field === 1 && (v.value < 1 || v.value > 100))) return false;
      pos = v.next;
    } else if (wire === 2 && lengthDelimited.has(field)) {
      const len = readVarint(head, pos);
      if (!len) return false;
      if (field === 7) return true; // reached the graph: it is a model
      pos = len.next + len.value;
    } else {
      return false;
    }
  }
  return true;
}

function readVarint(buf: Uint8Array, pos: number): { value: number; next: number } | null {
  let value = 0;
  for (let i = 0; i < 5 && pos + i < buf.length; i++) {
    const b = buf[pos + i];
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return { value, next: pos + i + 1 };
  }
  return null;
}

function readHead(path: string, n: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const buf = new Uint8Array(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

function detectOnnx(path: string, hintName?: string): Detection {
  if (!looksLikeOnnx(readHead(path, 4096))) throw new UnsupportedModelError(path, 'has the .onnx extension but is not an ONNX model (protobuf header check failed; truncated or an HTML error page?)');
  const names = [basename(path), ...(hintName ? [hintName] : [])].map((n) => n.toLowerCase());
  const rule = ONNX_RULES.find((r) => names.some((n) => r.re.test(n)));
  if (!rule) {
    throw new UnsupportedModelError(path, 'unknown ONNX model; ipa-bridge recognises ONNX files by name: det_10g.onnx, w600k_r50.onnx (insightface buffalo_l), yolox_l.onnx, dw-ll_ucoco_384.onnx (DWPose), depth_anything*.onnx');
  }
  return {
    kind: rule.kind, variant: rule.variant, base: null, format: 'onnx', details: {}, evidence: 'name',
    supported: rule.unsupported === undefined, reason: rule.unsupported,
  };
}

// ---------------------------------------------------------------------------------------------
// PyTorch pickles: never unpickled (arbitrary code); recognised by magic bytes + name + folder.

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

function detectPickle(path: string, hint: DetectHint): Detection {
  const head = readHead(path, 4);
  const isZip = ZIP_MAGIC.every((b, i) => head[i] === b);
  const isLegacy = head[0] === 0x80; // pickle PROTO opcode
  if (!isZip && !isLegacy) throw new UnsupportedModelError(path, 'not a PyTorch checkpoint (neither a torch zip archive nor a pickle)');
  const name = basename(path).toLowerCase();
  const ip = /^ip-adapter[-_]?(.*)\.(bin|pt|pth)$/.exec(name);
  if (ip || hint.folderKind === 'ipadapter') {
    const rest = ip?.[1] ?? name;
    const sdxl = /sdxl/.test(rest);
    const variant = adapterKindFromName(rest);
    if (variant) {
      const base: BaseModel = sdxl ? 'sdxl' : 'sd15';
      const verdict = variant === 'full-face' ? { supported: false, reason: 'IP-Adapter full-face is not supported' } : baseVerdict(base, 'IP-Adapter');
      return { kind: 'ipadapter', variant, base, format: 'pickle', details: { face: variant === 'plus' && name.includes('face') ? true : undefined }, evidence: 'name', ...verdict };
    }
  }
  const what = /\.ckpt$/.test(name) ? 'checkpoint' : 'file';
  throw new UnsupportedModelError(path, `PyTorch pickle ${what} that cannot be classified without unpickling it (unsafe); convert it to .safetensors`);
}

// ---------------------------------------------------------------------------------------------
// Folders

const UNET_FILES = ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors'];
const CLIP_FILES = ['model.safetensors', 'model.fp16.safetensors'];

/** First existing file of `names` in `dir`. */
function firstFile(dir: string, names: readonly string[]): string | undefined {
  return names.map((n) => join(dir, n)).find((p) => existsSync(p));
}

/**
 * A diffusers pipeline folder (model_index.json + unet/ vae/ text_encoder/), a diffusers component
 * folder (config.json + weights, e.g. a ControlNet or an image encoder), or a tokenizer folder
 * (vocab.json + merges.txt). Null when the folder is none of these (the scanner then recurses).
 */
export function detectDirectory(dir: string): Detection | null {
  if (existsSync(join(dir, 'model_index.json'))) return detectPipelineFolder(dir);
  if (existsSync(join(dir, 'vocab.json')) && existsSync(join(dir, 'merges.txt'))) {
    return { kind: 'tokenizer', variant: 'clip-bpe', base: null, format: 'bpe', details: { vocabSize: countVocab(join(dir, 'vocab.json')) }, evidence: 'name', supported: true };
  }
  if (existsSync(join(dir, 'config.json'))) {
    const weights = firstFile(dir, [...UNET_FILES, ...CLIP_FILES]);
    if (!weights) return null;
    const d = detectTensors(basename(dir), SafetensorsFile.open(weights).tensors, weights);
    return d;
  }
  return null;
}

function countVocab(path: string): number | undefined {
  try {
    const v: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return typeof v === 'object' && v !== null ? Object.keys(v).length : undefined;
  } catch {
    return undefined;
  }
}

function detectPipelineFolder(dir: string): Detection {
  let index: { _class_name?: unknown } = {};
  try {
    index = JSON.parse(readFileSync(join(dir, 'model_index.json'), 'utf8')) as { _class_name?: unknown };
  } catch (e) {
    throw new UnsupportedModelError(join(dir, 'model_index.json'), `is not valid JSON (${(e as Error).message})`);
  }
  const cls = typeof index._class_name === 'string' ? index._class_name : 'unknown pipeline';
  const components = ['unet', 'vae', 'text_encoder', 'text_encoder_2', 'tokenizer', 'tokenizer_2'].filter((c) => existsSync(join(dir, c)));
  const unetFile = firstFile(join(dir, 'unet'), UNET_FILES);
  let base: BaseModel | null = /XL/.test(cls) ? 'sdxl' : /StableDiffusion3/.test(cls) ? 'sd3' : /Flux/.test(cls) ? 'flux' : null;
  let crossDim: number | undefined;
  let inChannels: number | undefined;
  if (unetFile) {
    const unet = detectTensors('unet', SafetensorsFile.open(unetFile).tensors, unetFile);
    crossDim = unet.details.crossAttentionDim;
    inChannels = unet.details.inChannels;
    base = base ?? unet.base;
  }
  base = base ?? 'sd15';
  const details: DetectionDetails = { components, crossAttentionDim: crossDim, inChannels };
  if (base === 'sdxl' && !(components.includes('text_encoder') && components.includes('text_encoder_2'))) {
    return {
      kind: 'diffusers', variant: base, base, format: 'diffusers', details, evidence: 'keys', supported: false,
      reason: components.includes('text_encoder_2') ? 'an SDXL refiner pipeline (text_encoder_2 only); ipa-bridge generates with SDXL base models' : 'an SDXL pipeline folder without text_encoder/ and text_encoder_2/',
    };
  }
  const verdict = baseVerdict(base, `diffusers pipeline (${cls})`);
  if (verdict.supported && !unetFile) {
    const hasBin = readdirSafe(join(dir, 'unet')).some((f) => f.endsWith('.bin'));
    return {
      kind: 'diffusers', variant: base, base, format: 'diffusers', details, evidence: 'keys', supported: false,
      reason: hasBin ? 'the diffusers folder has only .bin (pickle) UNet weights; ipa-bridge reads .safetensors' : 'the diffusers folder has no unet/diffusion_pytorch_model.safetensors',
    };
  }
  if (verdict.supported && inChannels !== undefined && !USABLE_IN_CHANNELS.has(inChannels)) {
    return { kind: 'diffusers', variant: base, base, format: 'diffusers', details, evidence: 'keys', supported: false, reason: `UNet takes ${inChannels} input channels (an instruct pipeline?); ipa-bridge uses standard and inpainting pipelines` };
  }
  return { kind: 'diffusers', variant: base, base, format: 'diffusers', details, evidence: 'keys', ...verdict };
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
