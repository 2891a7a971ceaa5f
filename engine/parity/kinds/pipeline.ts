/**
 * Parity for the `pipeline` case: txt2img + ControlNet + IP-Adapter base with CFG and DDIM, run
 * through the engine's own conditioning helpers and denoising loop (the code path jobs use).
 */
import * as ort from 'onnxruntime-node';
import { buildClipTextGraph } from '../../graphs/clip-text.ts';
import { buildClipVisionGraph } from '../../graphs/clip-vision.ts';
import { buildControlNet, controlScales } from '../../graphs/controlnet.ts';
import { buildIpKvGraph, buildIpProjectionGraph } from '../../graphs/ip-adapter.ts';
import { buildUNet } from '../../graphs/unet.ts';
import { inspectUNet, type UNetStructure } from '../../weights/unet-structure.ts';
import { buildVaeDecoder, imageToUint8NHWC } from '../../graphs/vae.ts';
import { adapterKeyValues, encodeChunks, projectTokens, sdxlChunkEmbeddings } from '../../pipeline/conditioning.ts';
import { FAMILY_DEFAULTS, FAMILY_SCHEDULER, sdxlTimeIds } from '../../pipeline/family.ts';
import { EOS_ID, OPENCLIP_PAD_ID, type EncodedPrompt } from '../../tokenizer/index.ts';
import { denoise, type DenoiseInput } from '../../pipeline/denoise.ts';
import { packIpInputs, type AdapterKv } from '../../pipeline/ip-inputs.ts';
import { SessionCache } from '../../pipeline/sessions.ts';
import { createScheduler } from '../../schedulers/index.ts';
import { roleSource } from '../../weights/names.ts';
import { safetensorsSource } from '../../weights/source.ts';
import { compareOutputs, input, type CheckResult, type GotTensor } from '../compare.ts';
import type { FixtureCase } from '../fixture.ts';
import { parityCacheDir, requireProvider } from '../graph-run.ts';
import { CPU_TARGET, flavourOf, type ParityTarget } from '../target.ts';
import { unetConfigFromCase } from './config.ts';

type Cfg = Record<string, unknown>;
const num = (o: Cfg | undefined, k: string) => (typeof o?.[k] === 'number' ? (o[k] as number) : undefined);
type Got = Record<string, GotTensor>;

/** The sessions both pipeline cases build alike, and the UNet structure they share. */
interface ImageSide {
  readonly structure: UNetStructure;
  readonly vision: ort.InferenceSession;
  readonly proj: ort.InferenceSession;
  readonly kv: ort.InferenceSession;
  readonly unet: ort.InferenceSession;
  readonly control: ort.InferenceSession;
  readonly vae: ort.InferenceSession;
}

/** Runs a pipeline case with a session cache on the target's provider, released whatever happens. */
async function withSessions(t: ParityTarget, run: (sessions: SessionCache) => Promise<CheckResult[]>): Promise<CheckResult[]> {
  requireProvider(t);
  const sessions = new SessionCache({ provider: t.provider, cacheDir: parityCacheDir() });
  try {
    return await run(sessions);
  } finally {
    await sessions.releaseAll();
  }
}

/**
 * Builds, after the caller's text encoders, the image encoder, the IP-Adapter projection and K/V, the UNet
 * (ControlNet and IP inputs), the ControlNet and the VAE decoder; `vaeScaling` is the family's factor
 * where the fixture's VAE config gives none.
 */
async function imageSideSessions(c: FixtureCase, t: ParityTarget, sessions: SessionCache, vaeScaling: number): Promise<ImageSide> {
  const cfg = c.config as Record<string, Cfg>;
  const unetW = roleSource(c, 'unet', 'unet');
  const unetCfg = unetConfigFromCase(c);
  const structure = inspectUNet(unetW);
  const [vision, proj, kv, unet, control, vae] = await Promise.all([
    sessions.get('vision', () => buildClipVisionGraph(roleSource(c, 'image_encoder', undefined), { heads: num(cfg.image_encoder, 'num_attention_heads'), flavour: flavourOf(t, 'clip-vision') })),
    sessions.get('proj', () => buildIpProjectionGraph(safetensorsSource(c.weights.ip_adapter), { flavour: flavourOf(t, 'ip-proj') })),
    sessions.get('kv', () => buildIpKvGraph(safetensorsSource(c.weights.ip_adapter), structure, { flavour: flavourOf(t, 'ip-kv') })),
    sessions.get('unet', () => buildUNet(unetW, { flavour: flavourOf(t, 'unet'), control: true, ip: true, config: unetCfg, structure })),
    sessions.get('controlnet', () => buildControlNet(roleSource(c, 'controlnet', 'controlnet'), { flavour: flavourOf(t, 'controlnet'), config: unetCfg })),
    sessions.get('vae', () => buildVaeDecoder(roleSource(c, 'vae', 'vae'), { flavour: flavourOf(t, 'vae-decoder'), config: { groups: num(cfg.vae, 'norm_num_groups') ?? 32, scalingFactor: num(cfg.vae, 'scaling_factor') ?? vaeScaling } })),
  ]);
  return { structure, vision, proj, kv, unet, control, vae };
}

/** The fixture's pixel_values through the image encoder and the projection (uncond: zeros), recorded; returns the embeds and the K/V slot. */
async function imagePrompt(c: FixtureCase, s: ImageSide, got: Got): Promise<{ embeds: Float32Array; slot: AdapterKv }> {
  const px = input(c, 'pixel_values');
  const embeds = (await s.vision.run({ pixel_values: new ort.Tensor('float32', px.data, px.shape) })).image_embeds;
  const e = { data: embeds.data as Float32Array, shape: embeds.dims };
  const tokens = await projectTokens(s.proj, { image_embeds: e }, { image_embeds: { data: new Float32Array(e.data.length), shape: e.shape } });
  got.image_prompt_tokens = { data: tokens.cond };
  got.image_prompt_tokens_uncond = { data: tokens.uncond };
  return { embeds: e.data, slot: await adapterKeyValues(s.kv, tokens, s.structure.attn2.length, true) };
}

/** denoise()'s IP-Adapter and ControlNet runs: the one reference and the one control at the fixture's scales over all steps. */
function adapterRuns(c: FixtureCase, s: ImageSide, slot: AdapterKv): Pick<DenoiseInput, 'ip' | 'controls'> {
  const layers = s.structure.attn2;
  const ipScale = Number(c.params.ip_adapter_scale);
  const cn = input(c, 'controlnet_cond');
  return {
    ip: { packed: packIpInputs([slot], layers, 2), layerScales: [layers.map(() => ipScale)], ranges: [{ start: 0, end: 1 }] },
    controls: [{ session: s.control, cond: cn.data, condShape: cn.shape as [number, number, number, number], scales: controlScales(s.structure.skips.length + 1, Number(c.params.controlnet_conditioning_scale), false), range: { start: 0, end: 1 }, guessMode: false }],
  };
}

/** Records the per-step and final latents and the decoded image (float and uint8 NHWC). */
async function recordDenoised(got: Got, vae: ort.InferenceSession, perStep: readonly Float32Array[], final: Float32Array, latentShape: readonly number[]): Promise<void> {
  got.latents_per_step = { data: Float32Array.from(perStep.flatMap((l) => [...l])) };
  got.latents_final = { data: final };
  const image = await vae.run({ latents: new ort.Tensor('float32', final, [...latentShape]) });
  got.image = { data: image.image.data as Float32Array };
  got.image_uint8 = { data: imageToUint8NHWC(image.image.data as Float32Array, image.image.dims) };
}

export async function runPipelineCase(c: FixtureCase, t: ParityTarget = CPU_TARGET): Promise<CheckResult[]> {
  const cfg = c.config as Record<string, Cfg>;
  return withSessions(t, async (sessions) => {
    const [text, s] = await Promise.all([
      sessions.get('text', () => buildClipTextGraph(roleSource(c, 'text_encoder', 'text'), { heads: num(cfg.text_encoder, 'num_attention_heads'), flavour: flavourOf(t, 'clip-text') })),
      imageSideSessions(c, t, sessions, 0.18215),
    ]);
    const got: Got = {};

    const ids = (name: string) => Int32Array.from(c.io!.readInt64(`in.${name}`), Number);
    const [cond, uncond] = await encodeChunks(text, [ids('input_ids'), ids('negative_input_ids')], 1);
    got.prompt_embeds = { data: cond };
    got.negative_prompt_embeds = { data: uncond };

    const { slot } = await imagePrompt(c, s, got);

    const steps = Number(c.params.num_inference_steps);
    const scheduler = createScheduler('ddim', steps);
    got.timesteps = { data: scheduler.timesteps };
    const noise = input(c, 'noise');
    const latents0 = noise.data.map((v) => v * scheduler.initNoiseSigma);
    const perStep: Float32Array[] = [];
    const final = await denoise({
      unet: s.unet, structure: s.structure,
      latents: latents0, latentShape: noise.shape as [number, number, number, number],
      cond, uncond, textShape: [77, cond.length / 77],
      guidance: Number(c.params.guidance_scale), scheduler, startIndex: 0,
      ...adapterRuns(c, s, slot),
      onStep: (_i, l) => perStep.push(l),
    });
    await recordDenoised(got, s.vae, perStep, final, noise.shape);
    return compareOutputs(c, got);
  });
}

/**
 * Parity for `sdxl-pipeline`: StableDiffusionXLControlNetPipeline with IP-Adapter base, CFG and
 * Euler, through the engine's own SDXL conditioning (both encoders, pooled embeddings, time ids),
 * reference and denoising code.
 */
export async function runSdxlPipelineCase(c: FixtureCase, t: ParityTarget = CPU_TARGET): Promise<CheckResult[]> {
  const cfg = c.config as Record<string, Cfg>;
  return withSessions(t, async (sessions) => {
    const textOpts = (role: string) => ({ heads: num(cfg[role], 'num_attention_heads'), act: cfg[role]?.hidden_act === 'quick_gelu' ? ('quick_gelu' as const) : ('gelu' as const), flavour: flavourOf(t, 'clip-text') });
    const [clipL, openClipG, s] = await Promise.all([
      sessions.get('text', () => buildClipTextGraph(roleSource(c, 'text_encoder', 'text'), textOpts('text_encoder'))),
      sessions.get('text2', () => buildClipTextGraph(roleSource(c, 'text_encoder_2', 'text'), textOpts('text_encoder_2'))),
      imageSideSessions(c, t, sessions, FAMILY_DEFAULTS.sdxl.vaeScaling),
    ]);
    const got: Got = {};

    // Text: the fixture's ids (the negative prompt is given, so it is encoded, not zeroed).
    const prompt = (l: string, g: string) => ({ l: fixedPrompt(c, l, EOS_ID), g: fixedPrompt(c, g, OPENCLIP_PAD_ID) });
    const [cond, uncond] = await sdxlChunkEmbeddings({ clipL, openClipG }, [prompt('input_ids', 'input_ids_2'), prompt('negative_input_ids', 'negative_input_ids_2')]);
    got.prompt_embeds = { data: cond.embeds };
    got.negative_prompt_embeds = { data: uncond.embeds };
    got.pooled_prompt_embeds = { data: cond.pooled };
    got.negative_pooled_prompt_embeds = { data: uncond.pooled };
    const noise = input(c, 'noise');
    const [height, width] = [noise.shape[2] * 8, noise.shape[3] * 8];
    const timeIds = sdxlTimeIds(width, height);
    got.add_time_ids = { data: Float32Array.from([...timeIds, ...timeIds]) };

    const { embeds, slot } = await imagePrompt(c, s, got);
    got.image_embeds = { data: embeds };

    const scheduler = createScheduler('euler', Number(c.params.num_inference_steps), { config: FAMILY_SCHEDULER.sdxl });
    got.timesteps = { data: scheduler.timesteps };
    got.sigmas = { data: scheduler.sigmas ?? new Float32Array() };
    got.init_noise_sigma = { data: [scheduler.initNoiseSigma] };
    const perStep: Float32Array[] = [];
    const final = await denoise({
      unet: s.unet, structure: s.structure,
      latents: noise.data.map((v) => v * scheduler.initNoiseSigma), latentShape: noise.shape as [number, number, number, number],
      cond: cond.embeds, uncond: uncond.embeds, textShape: [cond.embeds.length / cond.dim, cond.dim],
      textTime: { cond: cond.pooled, uncond: uncond.pooled, timeIds },
      guidance: Number(c.params.guidance_scale), scheduler, startIndex: 0,
      ...adapterRuns(c, s, slot),
      onStep: (_i, l) => perStep.push(l),
    });
    await recordDenoised(got, s.vae, perStep, final, noise.shape);
    return compareOutputs(c, got);
  });
}

/** One row of fixture ids as a one-chunk prompt with weights 1 (diffusers framed it). */
function fixedPrompt(c: FixtureCase, name: string, padId: number): EncodedPrompt {
  const ids = Int32Array.from(c.io!.readInt64(`in.${name}`), Number);
  return { chunks: [{ ids, weights: new Float32Array(ids.length).fill(1) }], tokenCount: 0, padId };
}
