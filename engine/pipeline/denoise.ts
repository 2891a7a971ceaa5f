/**
 * The denoising loop: per step, the active ControlNets (residuals summed), the UNet with the
 * text embeddings, image-prompt keys/values and residuals, classifier-free guidance and the
 * scheduler step; inpainting blends the known region back after every step. Everything between
 * session runs is plain TypeScript on flat Float32Arrays, kept to a few passes over the latents.
 */
import * as ort from 'onnxruntime-node';
import { CancelledError, type StepRange } from '../api.ts';
import type { UNetShape } from '../graphs/unet.ts';
import type { NoiseSource, Scheduler } from '../schedulers/index.ts';
import { ipScaleMatrix, type PackedIp } from './ip-inputs.ts';
import { addInto, blendByMask, concat, duplicate, guidance } from './tensor.ts';

export interface ControlRun {
  readonly session: ort.InferenceSession;
  /** [1, 3, H, W] in [0, 1] */
  readonly cond: Float32Array;
  readonly condShape: readonly [number, number, number, number];
  /** one weight per residual (conditioning scale, guess-mode ramp applied) */
  readonly scales: Float32Array;
  readonly range: StepRange;
  readonly guessMode: boolean;
}

export interface IpRun {
  readonly packed: PackedIp;
  /** per adapter slot: 16 per-layer scales */
  readonly layerScales: ReadonlyArray<readonly number[]>;
  readonly ranges: readonly StepRange[];
}

export interface InpaintRun {
  /** clean init latents [1, C, h, w] (UNet space) */
  readonly x0: Float32Array;
  readonly noise: Float32Array;
  /** [h*w], 1 = repaint */
  readonly mask: Float32Array;
  /** 9-channel inpainting UNets: mask + masked-image latents [1, 5, h, w] appended to the input */
  readonly extraChannels?: Float32Array;
}

export interface DenoiseInput {
  readonly unet: ort.InferenceSession;
  readonly unetShape: UNetShape;
  /** attn2 output channels, in UNet input order */
  readonly ipChannels: readonly number[];
  readonly latents: Float32Array;
  readonly latentShape: readonly [number, number, number, number];
  /** [1, L, D] text embeddings; uncond may be absent when guidance <= 1 */
  readonly cond: Float32Array;
  readonly uncond?: Float32Array;
  readonly textShape: readonly [number, number];
  readonly guidance: number;
  readonly scheduler: Scheduler;
  readonly startIndex: number;
  readonly ip?: IpRun;
  readonly controls: readonly ControlRun[];
  readonly inpaint?: InpaintRun;
  readonly stepNoise?: NoiseSource;
  readonly signal?: AbortSignal;
  readonly onStep?: (i: number, latents: Float32Array, denoised: Float32Array | null) => void;
}

export function inRange(r: StepRange, i: number, steps: number): boolean {
  const f = i / steps;
  return f >= r.start && (f < r.end || r.end >= 1);
}

/** Channel count and spatial size of every skip connection for a latent of h x w. */
export function residualShapes(shp: UNetShape, h: number, w: number, channelsOf: (i: number) => number): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  let hh = h;
  let ww = w;
  let i = 0;
  out.push([channelsOf(i++), hh, ww]);
  for (const b of shp.downBlocks) {
    for (let j = 0; j < b.resnets; j++) out.push([channelsOf(i++), hh, ww]);
    if (b.downsample) {
      hh = Math.ceil(hh / 2);
      ww = Math.ceil(ww / 2);
      out.push([channelsOf(i++), hh, ww]);
    }
  }
  out.push([shp.blockChannels[shp.blockChannels.length - 1], hh, ww]);
  return out;
}

const tensor = (data: Float32Array, dims: readonly number[]) => new ort.Tensor('float32', data, [...dims]);

export async function denoise(d: DenoiseInput): Promise<Float32Array> {
  const [, C, h, w] = d.latentShape;
  const cfg = d.uncond !== undefined && d.guidance > 1;
  const B = cfg ? 2 : 1;
  const [L, D] = d.textShape;
  const context = tensor(cfg ? concat(d.uncond!, d.cond) : d.cond, [B, L, D]);
  const steps = d.scheduler.steps;

  const unetInputs = new Set(d.unet.inputNames);
  const controlFeedsWanted = unetInputs.has('mid_residual');
  const zeroResiduals = controlFeedsWanted ? zeroResidualFeeds(d, B, h, w) : {};

  const ipFeeds: Record<string, ort.Tensor> = {};
  if (unetInputs.has('ip_scale')) {
    const p = d.ip?.packed;
    const layers = d.ipChannels.length;
    if (p) {
      p.k.forEach((k, l) => {
        ipFeeds[`ip_k.${l}`] = tensor(k, p.kShape[l]);
        ipFeeds[`ip_v.${l}`] = tensor(p.v[l], p.kShape[l]);
      });
      ipFeeds.ip_bias = tensor(p.bias, [p.adapters, p.tokens]);
    } else {
      d.ipChannels.forEach((c, l) => {
        const z = tensor(new Float32Array(B * c), [B, 1, 1, c]);
        ipFeeds[`ip_k.${l}`] = z;
        ipFeeds[`ip_v.${l}`] = z;
      });
      ipFeeds.ip_bias = tensor(new Float32Array(1), [1, 1]);
      ipFeeds.ip_scale = tensor(new Float32Array(layers), [layers, 1]);
    }
  }

  let latents = d.latents;
  for (let i = d.startIndex; i < steps; i++) {
    if (d.signal?.aborted) throw new CancelledError();
    const t = d.scheduler.timesteps[i];
    const x = d.scheduler.scaleModelInput(latents, i);
    let sample = cfg ? duplicate(x) : x;
    if (d.inpaint?.extraChannels) sample = withExtraChannels(sample, d.inpaint.extraChannels, B, C, 5, h * w);
    const sampleT = tensor(sample, [B, sample.length / (B * h * w), h, w]);
    const timestep = tensor(new Float32Array(B).fill(t), [B]);
    const feeds: Record<string, ort.Tensor> = { sample: sampleT, timestep, encoder_hidden_states: context, ...ipFeeds };
    if (d.ip && unetInputs.has('ip_scale')) {
      const active = d.ip.ranges.map((r) => inRange(r, i, steps));
      feeds.ip_scale = tensor(ipScaleMatrix(d.ip.layerScales, active, d.ipChannels.length), [d.ipChannels.length, d.ip.packed.adapters]);
    }
    if (controlFeedsWanted) Object.assign(feeds, (await controlResiduals(d, i, steps, x, t, B, context)) ?? zeroResiduals);
    if (d.signal?.aborted) throw new CancelledError();
    const out = await d.unet.run(feeds);
    const eps = cfg ? guidance(out.noise_pred.data as Float32Array, d.guidance) : (out.noise_pred.data as Float32Array);
    latents = d.scheduler.step(eps, i, latents, d.stepNoise);
    if (d.inpaint) latents = blendKnownRegion(d, latents, i + 1, C);
    d.onStep?.(i, latents, d.scheduler.lastDenoised);
  }
  return latents;
}

/** Keeps the unmasked region on the original image's trajectory (noised to the next level). */
function blendKnownRegion(d: DenoiseInput, latents: Float32Array, next: number, channels: number): Float32Array {
  const ip = d.inpaint!;
  if (ip.extraChannels) return latents; // 9-channel models inpaint by themselves
  const known = next < d.scheduler.steps ? d.scheduler.addNoise(ip.x0, ip.noise, next) : ip.x0;
  return blendByMask(latents, known, ip.mask, channels);
}

function withExtraChannels(sample: Float32Array, extra: Float32Array, B: number, C: number, E: number, hw: number): Float32Array {
  const out = new Float32Array(B * (C + E) * hw);
  for (let b = 0; b < B; b++) {
    out.set(sample.subarray(b * C * hw, (b + 1) * C * hw), b * (C + E) * hw);
    out.set(extra, (b * (C + E) + C) * hw);
  }
  return out;
}

function zeroResidualFeeds(d: DenoiseInput, B: number, h: number, w: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  const shapes = residualShapes(d.unetShape, h, w, (i) => residualChannels(d.unetShape, i));
  shapes.forEach(([c, hh, ww], i) => {
    const name = i === shapes.length - 1 ? 'mid_residual' : `down_residual_${i}`;
    feeds[name] = tensor(new Float32Array(B * c * hh * ww), [B, c, hh, ww]);
  });
  return feeds;
}

/** Output channels of skip `i`: conv_in, then each down resnet / downsampler in order. */
export function residualChannels(shp: UNetShape, i: number): number {
  if (i === 0) return shp.blockChannels[0];
  let n = 0;
  for (let b = 0; b < shp.downBlocks.length; b++) {
    const blk = shp.downBlocks[b];
    for (let j = 0; j < blk.resnets; j++) if (++n === i) return shp.blockChannels[b];
    if (blk.downsample && ++n === i) return shp.blockChannels[b];
  }
  return shp.blockChannels[shp.blockChannels.length - 1];
}

/** Summed residuals of the ControlNets active at step i, or undefined when none is. */
async function controlResiduals(d: DenoiseInput, i: number, steps: number, x: Float32Array, t: number, B: number, context: ort.Tensor): Promise<Record<string, ort.Tensor> | undefined> {
  let sum: Record<string, Float32Array> | undefined;
  let dims: Record<string, readonly number[]> = {};
  for (const c of d.controls) {
    if (!inRange(c.range, i, steps) || c.scales.every((s) => s === 0)) continue;
    // Guess mode: the ControlNet sees only the conditional half; the unconditional half gets none.
    const halfOnly = c.guessMode && B === 2;
    const n = halfOnly ? 1 : B;
    const [, cc, H, W] = c.condShape;
    const ctxData = context.data as Float32Array;
    const ctx = halfOnly ? tensor(ctxData.subarray(ctxData.length / 2), [1, context.dims[1], context.dims[2]]) : context;
    const out = await c.session.run({
      sample: tensor(n === 1 ? x : duplicate(x), [n, d.latentShape[1], d.latentShape[2], d.latentShape[3]]),
      timestep: tensor(new Float32Array(n).fill(t), [n]),
      encoder_hidden_states: ctx,
      controlnet_cond: tensor(n === 1 ? c.cond : duplicate(c.cond), [n, cc, H, W]),
      conditioning_scale: tensor(c.scales, [c.scales.length]),
    });
    if (!sum) {
      sum = {};
      dims = {};
    }
    for (const [name, v] of Object.entries(out)) {
      let data = v.data as Float32Array;
      if (halfOnly) data = concat(new Float32Array(data.length), data);
      // The first ControlNet's output buffers (ours to keep) accumulate the others.
      if (sum[name]) addInto(sum[name], data);
      else sum[name] = data;
      dims[name] = [B, ...v.dims.slice(1)];
    }
  }
  if (!sum) return undefined;
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, data] of Object.entries(sum)) feeds[name] = tensor(data, dims[name]);
  return feeds;
}
