/**
 * The engine behind the daemon: turns a GenerateRequest into images. Finds models through the
 * locator, builds graphs from the users' own weight files (once; sessions stay cached), computes
 * the conditioning, runs the denoising loop with progress and cancellation, decodes and composes.
 */
import * as ort from 'onnxruntime-node';
import {
  CancelledError, EngineError,
  type ControlInput, type Engine, type EngineOptions, type GenerateOptions, type GenerateRequest, type GenerateResult,
  type GenerationMetadata, type LocatedModel, type ModelSummary, type RgbaImage, type Role, type RuntimeReport, type StyleReference,
} from './api.ts';
import { buildClipTextGraph } from './graphs/clip-text.ts';
import { buildClipVisionGraph } from './graphs/clip-vision.ts';
import { buildControlNet, controlNetMismatch, controlScales } from './graphs/controlnet.ts';
import { buildIpKvGraph, buildIpProjectionGraph, ipLayerScales } from './graphs/ip-adapter.ts';
import { buildUNet } from './graphs/unet.ts';
import { buildVaeDecoder, buildVaeEncoder, imageToRgba, runTiled, type Planar, type TileRunner } from './graphs/vae.ts';
import { noise as seededNoise, stepNoiseSource, variationNoise } from './noise.ts';
import { openCheckpoint, unetConfigOf, vaeConfigOf, type Checkpoint } from './pipeline/checkpoint.ts';
import { adapterKeyValues, projectTokens, promptEmbeddings, sdxlPromptEmbeddings, type ImageTokens, type SdxlTextEmbeddings, type TextEmbeddings } from './pipeline/conditioning.ts';
import { FAMILY_SCHEDULER, familyRole, sdxlTimeIds, tinyVaeRole, vaeDecoderPlan } from './pipeline/family.ts';
import { denoise, type ControlRun, type InpaintRun } from './pipeline/denoise.ts';
import { packIpInputs, type AdapterKv } from './pipeline/ip-inputs.ts';
import { referenceMasks } from './pipeline/ip-masks.ts';
import { draftDecode, loadTinyDecoder, stepPreview } from './pipeline/preview.ts';
import { references as referenceInputs, type Named } from './pipeline/references.ts';
import { fileIdentity, SessionCache } from './pipeline/sessions.ts';
import { encodeInitTiny } from './pipeline/tiny-encode.ts';
import { concat, maskToLatent, resizeRgba, rgbaToPlanar } from './pipeline/tensor.ts';
import { createScheduler } from './schedulers/index.ts';
import { ClipTokenizer } from './tokenizer/index.ts';
import { fileLoraDeltas, kohyaTargets, mergeDeltas, mergeIpAdapterLora } from './weights/lora.ts';
import { vaeFileSource } from './weights/names.ts';
import { openWeightFile } from './weights/open.ts';
import { layeredSource, renamedSource, safetensorsSource, type WeightSource } from './weights/source.ts';
import { preprocessControlImage } from './pipeline/controls.ts';
import { adapterMismatch, describeIpAdapter, isFaceIdKind, shapesOf, type IpAdapterDescription } from './weights/ip-adapter.ts';
import { inspectUNet, type UNetStructure } from './weights/unet-structure.ts';
import { graphFlavour, type GraphKind } from './graphs/flavour.ts';
import { flavourFor, type Flavour } from './runtime/providers.ts';

const LATENT_FACTOR = 8;

/**
 * Above 768² the VAE decoder runs in 512² tiles (64 latent px, 16 overlapping): its mid-block attention
 * over every latent pixel needs memory quadratic in the image area (≈ 1 GiB of scores per head at 1024²),
 * the first thing to run a GPU out of memory. Tiles are feathered together (graphs/vae.ts runTiled).
 */
const VAE_TILE_ABOVE_LATENT_AREA = 96 * 96;
const VAE_TILE = { tile: 64, overlap: 16, scale: LATENT_FACTOR } as const;

async function decodeLatents(decoder: ort.InferenceSession, latents: Float32Array, shape: readonly number[]): Promise<{ image: Planar; tiled: boolean }> {
  const run: TileRunner = async (tile) => {
    const r = await decoder.run({ latents: new ort.Tensor('float32', tile.data, [...tile.shape]) });
    return { image: { data: r.image.data as Float32Array, shape: r.image.dims.map(Number) } };
  };
  const tiled = shape[2] * shape[3] > VAE_TILE_ABOVE_LATENT_AREA;
  const out = tiled ? await runTiled(run, { data: latents, shape }, VAE_TILE) : await run({ data: latents, shape });
  return { image: out.image, tiled };
}

/** Small LRU for embeddings keyed by content hash / prompt. */
class Lru<V> {
  private readonly m = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(k: string): V | undefined {
    const v = this.m.get(k);
    if (v !== undefined) {
      this.m.delete(k);
      this.m.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    this.m.delete(k);
    this.m.set(k, v);
    while (this.m.size > this.max) this.m.delete(this.m.keys().next().value as string);
  }
}

type ProjectionInputs = { readonly cond: Named; readonly uncond: Named };

interface Loaded {
  readonly ckptModel: LocatedModel;
  readonly ckpt: Checkpoint;
  /** What every graph and the denoising loop build on: the checkpoint UNet's attn2 layers and skips. */
  readonly structure: UNetStructure;
}

export class SdEngine implements Engine {
  readonly provider: string;
  readonly runtime: RuntimeReport;
  private readonly sessions: SessionCache;
  private readonly textCache = new Lru<TextEmbeddings>(32);
  /** Projection inputs (CLIP / face embeddings) of reference images, by adapter file + image hash. */
  private readonly inputCache = new Lru<ProjectionInputs>(32);
  private tokenizer?: { path: string; tok: ClipTokenizer };

  constructor(private readonly opts: EngineOptions, runtime?: RuntimeReport) {
    this.provider = opts.provider;
    this.runtime = runtime ?? { provider: opts.provider, fp16: opts.fp16 ?? false, reason: 'asked for', probes: [] };
    this.sessions = new SessionCache({ provider: opts.provider, cacheDir: opts.cacheDir, intraOpThreads: opts.threads });
  }

  listModels(): Promise<ModelSummary[]> {
    return this.opts.models.list();
  }

  async dispose(): Promise<void> {
    await this.sessions.releaseAll();
  }

  async generate(req: GenerateRequest, o: GenerateOptions = {}): Promise<GenerateResult> {
    const t0 = performance.now();
    const timings: Record<string, number> = {};
    const lap = (name: string, since: number) => (timings[name] = Math.round(performance.now() - since));
    const p = req.params;
    const check = () => {
      if (o.signal?.aborted) throw new CancelledError();
    };
    if (p.width % LATENT_FACTOR || p.height % LATENT_FACTOR) throw new EngineError('invalid-field', `width and height must be multiples of ${LATENT_FACTOR}`, 'params.width');

    const models: Record<string, { name: string; sha256: string }> = {};
    const note = (role: string, m: LocatedModel) => (models[role] = { name: m.name, sha256: m.sha256 ?? '' });

    // Models and graphs.
    let t = performance.now();
    const ckptModel = this.opts.models.find('checkpoint', p.checkpoint);
    note('checkpoint', ckptModel);
    const ckpt = openCheckpoint(ckptModel.path);
    const faceIdAdapter = req.references.find((r) => isFaceIdKind(r.adapter));
    const loras = (p.loras ?? []).map((l) => ({ ...l, file: this.opts.models.find('lora', l.model) }));
    loras.forEach((l) => note(`lora:${l.model}`, l.file));
    const faceIdFile = faceIdAdapter ? this.opts.models.find(familyRole(ckpt.family, 'ipadapter', faceIdAdapter.adapter), faceIdAdapter.model) : undefined;
    // Shapes are the same with or without LoRAs: inspect the file, merge only when a graph is built.
    const baseUnet = ckpt.source('unet');
    const structure = inspectUNet(baseUnet);
    const loaded: Loaded = { ckptModel, ckpt, structure };
    const unetKey = `unet|${fileIdentity(ckptModel.path)}|${JSON.stringify(p.loras ?? [])}|${faceIdFile?.path ?? ''}`;
    await this.sessions.prune((k) => !k.startsWith('unet|') || k === unetKey); // one UNet in memory
    const unet = await this.sessions.get(unetKey, () => buildUNet(this.unetWeights(baseUnet, structure, loras, faceIdFile), { flavour: this.flavourOf('unet'), control: true, ip: true, structure, config: unetConfigOf(ckpt) }));
    lap('load_unet', t);
    check();

    // Text.
    t = performance.now();
    const text = await this.text(loaded, p.prompt, p.negativePrompt, p.clipSkip, p.loras ?? [], note);
    lap('text', t);
    check();

    // Image prompts.
    t = performance.now();
    const cfg = p.guidance > 1;
    const slots: AdapterKv[] = [];
    const groups = groupReferences(req.references);
    for (const group of groups) {
      check();
      slots.push(await this.referenceSlot(loaded, group, cfg, note));
    }
    // The image encoder (2.4 GB for ViT-H) is only needed until the tokens are cached by image hash:
    // free it before denoising, when the UNet and ControlNets need the memory.
    await this.sessions.prune((k) => !k.startsWith('vision|'));
    lap('references', t);

    // Controls.
    t = performance.now();
    const controlImages: RgbaImage[] = [];
    const controlKeypoints: Array<object | undefined> = [];
    const controls: ControlRun[] = [];
    for (const [i, c] of req.controls.entries()) {
      check();
      const { run, image, keypoints } = await this.control(loaded, c, i, p.width, p.height, note, o.signal);
      controls.push(run);
      controlImages.push(image);
      controlKeypoints.push(keypoints);
    }
    lap('controls', t);

    // Init / mask latents.
    const h = p.height / LATENT_FACTOR;
    const w = p.width / LATENT_FACTOR;
    const latentC = structure.outChannels;
    let x0: Float32Array | undefined;
    if (req.init) {
      t = performance.now();
      // Draft (live) jobs encode with TAESD when installed: the full VAE encoder was a third of a live job.
      const tinyX0 = p.draftDecode ? await encodeInitTiny(this.opts.models, this.sessions, flavourFor(this.opts.provider, this.opts.fp16 ?? false), tinyVaeRole(ckpt.family), req.init, p.width, p.height) : undefined;
      if (tinyX0) note('vae:taesd-encoder', tinyX0.model);
      x0 = tinyX0?.latents ?? await this.encodeImage(loaded, req.init, p.width, p.height);
      lap(tinyX0 ? 'taesd_encode' : 'vae_encode', t);
    }
    const latentMask = req.mask ? maskToLatent(resizeMask(req.mask, p.width, p.height), p.width, p.height, LATENT_FACTOR) : undefined;

    // Inpainting checkpoints (9-channel UNet) take the mask and the masked image's latents as input.
    let extraChannels: Float32Array | undefined;
    if (structure.inChannels === latentC + 5) {
      t = performance.now();
      extraChannels = await this.inpaintChannels(loaded, req, p.width, p.height);
      lap('vae_encode_masked', t);
    }
    const images: RgbaImage[] = [];
    // TAESD (when installed) for previews and draft decodes; a draft job never loads the full VAE decoder.
    // The tiny autoencoder of the checkpoint's family (TAESDXL for SDXL latents).
    const tiny = o.wantPreview || p.draftDecode ? await loadTinyDecoder(this.opts.models, this.sessions, flavourFor(this.opts.provider, this.opts.fp16 ?? false), tinyVaeRole(ckpt.family)) : undefined;
    if (tiny) note('vae:taesd', tiny.model);
    const fp16Fix = ckpt.family === 'sdxl' && this.flavourOf('vae-decoder') === 'cuda' ? this.fp16FixVae() : undefined;
    const vaePlan = vaeDecoderPlan(ckpt.family, this.flavourOf('vae-decoder'), fp16Fix !== undefined);
    const fixVae = vaePlan.fp16Fix ? fp16Fix : undefined;
    if (fixVae) note('vae', fixVae);
    const decoder = () => this.sessions.get(`vae-dec|${fileIdentity(fixVae?.path ?? ckptModel.path)}|${vaePlan.flavour}`, () => buildVaeDecoder(fixVae ? vaeFileSource(fixVae.path) : ckpt.source('vae'), { flavour: vaePlan.flavour, config: vaeConfigOf(ckpt) }));
    // SDXL's added conditioning: pooled text embeddings and time ids (generated at its own size, uncropped).
    const textTime = isSdxlText(text) ? { cond: text.pooledCond, uncond: cfg ? text.pooledUncond : undefined, timeIds: sdxlTimeIds(p.width, p.height) } : undefined;
    for (let b = 0; b < p.batchSize; b++) {
      check();
      const seed = p.seed + b;
      const shape = [1, latentC, h, w] as const;
      const n = p.variationSeed !== undefined && (p.variationStrength ?? 0) > 0 ? variationNoise(seed, p.variationSeed + b, p.variationStrength!, shape) : seededNoise(seed, shape);
      const scheduler = createScheduler(p.sampler, p.steps, { eta: p.eta, config: FAMILY_SCHEDULER[ckpt.family] });
      let startIndex = 0;
      let latents: Float32Array;
      if (x0 && p.strength < 1) {
        startIndex = scheduler.timestepsForStrength(p.strength).startIndex;
        if (startIndex >= p.steps) startIndex = p.steps - 1; // strength ~0 still runs one step
        latents = scheduler.addNoise(x0, n, startIndex);
      } else {
        latents = n.map((v) => v * scheduler.initNoiseSigma);
      }
      const inpaint: InpaintRun | undefined = extraChannels
        ? { x0: x0 ?? new Float32Array(n.length), noise: n, mask: latentMask ?? new Float32Array(h * w).fill(1), extraChannels }
        : x0 && latentMask ? { x0, noise: n, mask: latentMask } : undefined;
      t = performance.now();
      const total = p.steps - startIndex;
      const final = await denoise({
        unet, structure,
        latents, latentShape: shape, cond: text.cond, uncond: text.uncond, textShape: [text.tokens, text.dim], textTime,
        guidance: p.guidance, scheduler, startIndex,
        ip: slots.length ? { packed: packIpInputs(slots, structure.attn2, cfg ? 2 : 1), layerScales: groups.map(([{ ref }]) => ipLayerScales(structure.attn2, ref.preset, ref.scale)), ranges: groups.map(([{ ref }]) => ref.range), masks: referenceMasks(groups.map(([{ ref }]) => ref), p.width, p.height) } : undefined,
        controls, inpaint, stepNoise: scheduler.stochastic ? stepNoiseSource(seed) : undefined, signal: o.signal,
        onStep: async (i, lat, denoised) => {
          const step = b * total + (i - startIndex) + 1;
          o.onProgress?.({ step, total: total * p.batchSize, preview: o.wantPreview ? await stepPreview(tiny, denoised ?? lat, latentC, h, w, ckpt.family) : undefined });
        },
      });
      lap(`denoise_${b}`, t);
      timings.ms_per_step = Math.round(timings[`denoise_${b}`] / Math.max(1, total));
      check();
      t = performance.now();
      const decoded = p.draftDecode && tiny ? await draftDecode(tiny, final, shape) : await decodeLatents(await decoder(), final, shape);
      if (decoded.tiled) timings.vae_tiled = 1;
      lap(`vae_decode_${b}`, t);
      const px = imageToRgba(decoded.image.data, decoded.image.shape);
      let rgba = new Uint8Array(px.buffer, px.byteOffset, px.byteLength);
      if (req.init && req.mask) rgba = composeInpaint(rgba, req.init, req.mask, p.width, p.height);
      images.push({ width: p.width, height: p.height, data: rgba });
    }
    timings.total = Math.round(performance.now() - t0);
    const metadata: GenerationMetadata = {
      params: p,
      references: req.references.map(({ image: _i, mask, ...rest }) => (mask ? { ...rest, masked: true } : rest)),
      controls: req.controls.map(({ image: _i, ...rest }) => rest),
      models,
      family: ckpt.family,
      timings,
      engine: `ipa-bridge engine (${this.provider}, onnxruntime ${ort.env.versions?.common ?? ''})`,
    };
    return { images, metadata, controlImages, controlKeypoints };
  }

  /** madebyollin/sdxl-vae-fp16-fix when installed (role vae:sdxl-fp16-fix), else undefined. */
  private fp16FixVae(): LocatedModel | undefined {
    try {
      return this.opts.models.find('vae:sdxl-fp16-fix');
    } catch {
      return undefined;
    }
  }

  /** The flavour each graph is built in for this engine's provider (the SD VAE decoder stays fp32 in portable-fp16). */
  private flavourOf(kind: GraphKind): Flavour {
    return graphFlavour(flavourFor(this.opts.provider, this.opts.fp16 ?? false), kind);
  }

  /**
   * Third-party ONNX models (InsightFace, DWPose, depth, the CLIP image preprocessing) run on CUDA or
   * the CPU: their parity on WebGPU, CoreML and DirectML is unverified, and each runs once per job.
   */
  private get preprocessProvider(): 'cpu' | 'cuda' {
    return this.opts.provider === 'cuda' ? 'cuda' : 'cpu';
  }

  /** The UNet weights with LoRAs (and a FaceID adapter's own LoRA) merged in. */
  private unetWeights(base: WeightSource, structure: UNetStructure, loras: ReadonlyArray<{ strength: number; file: LocatedModel }>, faceId: LocatedModel | undefined): WeightSource {
    const layers: WeightSource[] = [];
    let current = base;
    const push = (merged: WeightSource) => {
      layers.unshift(merged);
      current = layeredSource(base.description, ...layers, base);
    };
    for (const l of loras) push(mergeDeltas(current, fileLoraDeltas(openWeightFile(l.file.path), 'lora_unet_', kohyaTargets(base), l.strength), `${l.file.name} ×${l.strength}`));
    if (faceId) {
      const ip = openWeightFile(faceId.path, 'ip_adapter.');
      if (ip.keys().some((k) => k.includes('_lora.'))) push(mergeIpAdapterLora(current, ip, 1, structure));
    }
    return current;
  }

  /**
   * A text encoder with the LoRAs' parts for it merged in: `lora_te_` (SD1.5), `lora_te1_` (SDXL's
   * CLIP-L) or `lora_te2_` (SDXL's bigG; kohya names it in HF naming, as the source is keyed).
   */
  private textWeights(ckpt: Checkpoint, loras: ReadonlyArray<{ model: string; strength: number }>, part: 'text' | 'text2' = 'text'): WeightSource {
    const base = ckpt.source(part);
    if (loras.length === 0) return base;
    const targets = kohyaTargets(base);
    const prefix = ckpt.family === 'sd15' ? 'lora_te_' : part === 'text' ? 'lora_te1_' : 'lora_te2_';
    const deltas = loras.flatMap((l) => fileLoraDeltas(peftTextPart(openWeightFile(this.opts.models.find('lora', l.model).path), part), prefix, targets, l.strength));
    return deltas.length ? layeredSource(base.description, mergeDeltas(base, deltas, 'text encoder LoRAs'), base) : base;
  }

  private async tokenizerFor(): Promise<ClipTokenizer> {
    const m = this.opts.models.find('tokenizer');
    if (this.tokenizer?.path !== m.path) this.tokenizer = { path: m.path, tok: await ClipTokenizer.fromDirectory(m.path) };
    return this.tokenizer.tok;
  }

  private async text(l: Loaded, prompt: string, negative: string, clipSkip: number, loras: ReadonlyArray<{ model: string; strength: number }>, note: (r: string, m: LocatedModel) => void): Promise<TextEmbeddings> {
    const loraKey = JSON.stringify(loras);
    const key = `${fileIdentity(l.ckptModel.path)}|${loraKey}|${clipSkip}|${prompt}\u0000${negative}`;
    const hit = this.textCache.get(key);
    if (hit) return hit;
    const tok = await this.tokenizerFor();
    note('tokenizer', this.opts.models.find('tokenizer'));
    const textKey = `text|${fileIdentity(l.ckptModel.path)}|${loraKey}`;
    await this.sessions.prune((k) => !k.startsWith('text|') || k.startsWith(textKey));
    const session = await this.sessions.get(textKey, () => buildClipTextGraph(this.textWeights(l.ckpt, loras), { flavour: this.flavourOf('clip-text'), heads: l.ckpt.hints.textHeads }));
    // SDXL: both encoders' hs[-2] (clip skip does not apply: diffusers' SDXL pipeline always takes hs[-2]).
    const emb = l.ckpt.family === 'sdxl'
      ? await sdxlPromptEmbeddings({ clipL: session, openClipG: await this.sessions.get(`${textKey}|2`, () => buildClipTextGraph(this.textWeights(l.ckpt, loras, 'text2'), { flavour: this.flavourOf('clip-text'), heads: l.ckpt.hints.text2Heads })) }, tok, prompt, negative)
      : await promptEmbeddings(session, tok, prompt, negative, clipSkip);
    this.textCache.set(key, emb);
    return emb;
  }

  /**
   * One adapter slot for a group of references (one reference, or several sharing `group`): their
   * projection inputs are averaged before projecting ('average'), or their tokens concatenated
   * ('concat', the default) — either way one softmax over the group's tokens.
   */
  private async referenceSlot(l: Loaded, group: ReadonlyArray<{ ref: StyleReference; index: number }>, cfg: boolean, note: (r: string, m: LocatedModel) => void): Promise<AdapterKv> {
    const first = group[0].ref;
    const adapter = this.opts.models.find(familyRole(l.ckpt.family, 'ipadapter', first.adapter), first.model);
    note(`ipadapter:${group[0].index}`, adapter);
    for (const { ref, index } of group.slice(1)) {
      if (ref.adapter !== first.adapter || ref.model !== first.model) throw new EngineError('invalid-field', `references in group "${first.group}" must use the same adapter model`, `references[${index}].adapter`);
    }
    const src = openWeightFile(adapter.path);
    const info = describeIpAdapter(shapesOf(src), adapter.name, adapter.path);
    // The file must be the kind asked for (FaceID-Plus v1 and v2 share their tensors, so either
    // fits the other) and serve this UNet's cross-attention layers.
    const family = (k: string) => k.replace(/^faceid-plusv2$/, 'faceid-plus');
    const field = `references[${group[0].index}].${first.model ? 'model' : 'adapter'}`;
    if (family(info.kind) !== family(first.adapter)) throw new EngineError('model-mismatch', `${adapter.name} is an IP-Adapter ${info.kind}, not ${first.adapter}`, field);
    const mismatch = adapterMismatch(info, l.structure);
    if (mismatch) throw new EngineError('model-mismatch', `${adapter.name} does not fit the checkpoint ${l.ckptModel.name}: ${mismatch}`, field);
    // The PlusV2 shortcut follows the kind asked for (the registry files v2 by its one name rule).
    const shortcut = first.adapter === 'faceid-plusv2';
    const proj = await this.sessions.get(`proj|${fileIdentity(adapter.path)}|${shortcut}`, () => buildIpProjectionGraph(src, { flavour: this.flavourOf('ip-proj'), shortcut, sScale: shortcut ? 1 : undefined }));
    const kv = await this.sessions.get(`kv|${fileIdentity(adapter.path)}`, () => buildIpKvGraph(src, l.structure, { flavour: this.flavourOf('ip-kv') }));
    const inputs: ProjectionInputs[] = [];
    for (const { ref, index } of group) {
      const key = `${adapter.path}|${ref.hash ?? ''}`;
      let x = ref.hash ? this.inputCache.get(key) : undefined;
      if (!x) {
        const needsVision = info.inputs.some((i) => i.name !== 'faceid_embeds');
        const vision = needsVision ? await this.visionSession(imageEncoderRole(info), note) : undefined;
        x = await referenceInputs(ref, info, vision, (role) => this.opts.models.find(role), { provider: this.preprocessProvider, field: `references[${index}].image` });
        if (ref.hash) this.inputCache.set(key, x);
      }
      inputs.push(x);
    }
    let tokens: ImageTokens;
    if (first.combine === 'average' && inputs.length > 1) {
      tokens = await projectTokens(proj, averageNamed(inputs.map((x) => x.cond)), averageNamed(inputs.map((x) => x.uncond)));
    } else {
      const each = await Promise.all(inputs.map((x) => projectTokens(proj, x.cond, x.uncond)));
      tokens = each.length === 1 ? each[0] : { cond: concat(...each.map((t) => t.cond)), uncond: concat(...each.map((t) => t.uncond)), tokens: each.reduce((n, t) => n + t.tokens, 0), dim: each[0].dim };
    }
    return adapterKeyValues(kv, tokens, l.structure.attn2.length, cfg);
  }

  private async visionSession(role: Role, note: (r: string, m: LocatedModel) => void): Promise<ort.InferenceSession> {
    const m = this.opts.models.find(role);
    note('clip_vision', m);
    const hints = (await import('./pipeline/checkpoint.ts')).readHints(m.path);
    return this.sessions.get(`vision|${fileIdentity(m.path)}`, () => buildClipVisionGraph(safetensorsSource(m.path), { flavour: this.flavourOf('clip-vision'), heads: hints.visionHeads }));
  }

  private async control(l: Loaded, c: ControlInput, i: number, width: number, height: number, note: (r: string, m: LocatedModel) => void, signal?: AbortSignal): Promise<{ run: ControlRun; image: RgbaImage; keypoints?: object }> {
    const m = this.opts.models.find(familyRole(l.ckpt.family, 'controlnet', c.type), c.model);
    note(`controlnet:${i}`, m);
    const src = (await import('./weights/names.ts')).sourceFor(m.path, undefined, 'controlnet');
    const mismatch = controlNetMismatch(inspectUNet(src), l.structure);
    if (mismatch) throw new EngineError('model-mismatch', `${m.name} does not fit the checkpoint ${l.ckptModel.name}: ${mismatch}`, `controls[${i}].${c.model ? 'model' : 'type'}`);
    const session = await this.sessions.get(`controlnet|${fileIdentity(m.path)}`, () => buildControlNet(src, { flavour: this.flavourOf('controlnet'), config: unetConfigOf(l.ckpt) }));
    const { image: processed, keypoints } = await preprocessControlImage(c, (role) => this.opts.models.find(role), { width, height, provider: this.preprocessProvider, signal, field: `controls[${i}]` });
    const sized = resizeRgba(processed.data, processed.width, processed.height, width, height);
    const cond = rgbaToPlanar(sized, width, height, (v) => v / 255);
    const n = l.structure.skips.length + 1;
    return {
      run: { session, cond, condShape: [1, 3, height, width], scales: controlScales(n, c.scale, c.guessMode), range: c.range, guessMode: c.guessMode },
      image: { width, height, data: sized },
      keypoints,
    };
  }

  private async inpaintChannels(l: Loaded, req: GenerateRequest, width: number, height: number): Promise<Float32Array> {
    const mask = req.mask ? resizeMask(req.mask, width, height) : new Uint8Array(width * height).fill(255);
    const enc = await this.vaeEncoder(l);
    const masked = await enc.run({ image: new ort.Tensor('float32', maskedInit(req.init, mask, width, height), [1, 3, height, width]) });
    const latentMask = maskToLatent(mask, width, height, LATENT_FACTOR).map((v) => (v >= 0.5 ? 1 : 0));
    const out = new Float32Array(latentMask.length * 5);
    out.set(latentMask);
    out.set(masked.latents_scaled.data as Float32Array, latentMask.length);
    return out;
  }

  private vaeEncoder(l: Loaded): Promise<ort.InferenceSession> {
    return this.sessions.get(`vae-enc|${fileIdentity(l.ckptModel.path)}`, () => buildVaeEncoder(l.ckpt.source('vae'), { flavour: this.flavourOf('vae-encoder'), config: vaeConfigOf(l.ckpt) }));
  }

  private async encodeImage(l: Loaded, img: RgbaImage, width: number, height: number): Promise<Float32Array> {
    const enc = await this.vaeEncoder(l);
    const sized = resizeRgba(img.data, img.width, img.height, width, height);
    const x = rgbaToPlanar(sized, width, height, (v) => v / 127.5 - 1);
    // The latent mean (not a sample): img2img stays deterministic for a seed.
    const out = await enc.run({ image: new ort.Tensor('float32', x, [1, 3, height, width]) });
    return out.latents_scaled.data as Float32Array;
  }
}

/**
 * The diffusers/peft keys of one SDXL text encoder under the name fileLoraDeltas reads
 * (`text_encoder.`): both encoders share module names, so `text_encoder_2.` keys must reach only the
 * second and `text_encoder.` keys only the first. kohya keys (lora_te1_/lora_te2_) pass unchanged.
 */
export function peftTextPart(lora: WeightSource, part: 'text' | 'text2'): WeightSource {
  const map = new Map<string, string>();
  for (const k of lora.keys()) {
    if (k.startsWith('text_encoder_2.')) {
      if (part === 'text2') map.set(`text_encoder.${k.slice('text_encoder_2.'.length)}`, k);
    } else if (!k.startsWith('text_encoder.') || part === 'text') map.set(k, k);
  }
  return renamedSource(lora, map);
}

function isSdxlText(t: TextEmbeddings): t is SdxlTextEmbeddings {
  return 'pooledCond' in t;
}

/** The image encoder an adapter was trained with (ViT-H for SD1.5), read off its input widths. */
function imageEncoderRole(info: IpAdapterDescription): Role {
  return info.clipVision ? `clip_vision:${info.clipVision}` : 'clip_vision';
}

/** diffusers' StableDiffusionInpaintPipeline inputs: binary mask at latent size, then the latents of init * (mask < 0.5). */
function maskedInit(init: RgbaImage | undefined, mask: Uint8Array, width: number, height: number): Float32Array {
  const px = init ? rgbaToPlanar(resizeRgba(init.data, init.width, init.height, width, height), width, height, (v) => v / 127.5 - 1) : new Float32Array(3 * width * height);
  const hw = width * height;
  for (let i = 0; i < hw; i++) if (mask[i] >= 128) px[i] = px[hw + i] = px[2 * hw + i] = 0;
  return px;
}

/** References sharing a `group` form one adapter slot; every other reference is its own slot. */
export function groupReferences(refs: readonly StyleReference[]): Array<Array<{ ref: StyleReference; index: number }>> {
  const groups = new Map<string, Array<{ ref: StyleReference; index: number }>>();
  refs.forEach((ref, index) => {
    // A masked reference is its own slot: its own softmax and its own mask (diffusers' per-image masks).
    const key = ref.group !== undefined && !ref.mask ? `g:${ref.group}` : `i:${index}`;
    const g = groups.get(key);
    if (g) g.push({ ref, index });
    else groups.set(key, [{ ref, index }]);
  });
  return [...groups.values()];
}

function averageNamed(list: readonly Named[]): Named {
  const out: Named = {};
  for (const name of Object.keys(list[0])) {
    const acc = new Float32Array(list[0][name].data.length);
    for (const x of list) for (let i = 0; i < acc.length; i++) acc[i] += x[name].data[i] / list.length;
    out[name] = { data: acc, shape: list[0][name].shape };
  }
  return out;
}

function resizeMask(mask: { width: number; height: number; data: Uint8Array }, width: number, height: number): Uint8Array {
  if (mask.width === width && mask.height === height) return mask.data;
  const rgba = new Uint8Array(mask.width * mask.height * 4);
  for (let i = 0; i < mask.data.length; i++) rgba[i * 4] = mask.data[i];
  const r = resizeRgba(rgba, mask.width, mask.height, width, height);
  const out = new Uint8Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = r[i * 4];
  return out;
}

/** Pixels outside the mask come from the original, so only the selection changes. */
function composeInpaint(gen: Uint8Array, init: RgbaImage, mask: { width: number; height: number; data: Uint8Array }, width: number, height: number): Uint8Array {
  const orig = resizeRgba(init.data, init.width, init.height, width, height);
  const m = resizeMask(mask, width, height);
  const out = new Uint8Array(gen.length);
  for (let i = 0; i < width * height; i++) {
    const a = m[i] / 255;
    for (let c = 0; c < 3; c++) out[i * 4 + c] = Math.round(gen[i * 4 + c] * a + orig[i * 4 + c] * (1 - a));
    out[i * 4 + 3] = 255;
  }
  return out;
}

export function createSdEngine(opts: EngineOptions): Engine {
  return new SdEngine(opts);
}
