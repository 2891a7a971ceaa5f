/**
 * The denoising loop: per step, the active ControlNets (residuals summed), the UNet with the
 * text embeddings, image-prompt keys/values and residuals, classifier-free guidance and the
 * scheduler step; inpainting blends the known region back after every step. Everything between
 * session runs is plain TypeScript on flat Float32Arrays, kept to a few passes over the latents.
 */
import * as ort from 'onnxruntime-node';
import { CancelledError, type StepRange } from '../api.ts';
import type { NoiseSource, Scheduler } from '../schedulers/index.ts';
import { skipSize, UNET_IO, type UNetStructure } from '../weights/unet-structure.ts';
import { ipScaleMatrix, type PackedIp } from './ip-inputs.ts';
import { ipMaskFeeds, type FloatMask } from './ip-masks.ts';
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
  /** per adapter slot: one scale per attn2 layer */
  readonly layerScales: ReadonlyArray<readonly number[]>;
  readonly ranges: readonly StepRange[];
  /** per adapter slot: its regional mask, binarized at image size (ip-masks.ts); absent = everywhere */
  readonly masks?: ReadonlyArray<FloatMask | undefined>;
}

/** SDXL's added conditioning (UNets with `textTime`): pooled text embeddings and time ids, per CFG half. */
export interface TextTimeRun {
  /** [1, P] pooled embeddings of the prompt; uncond for the negative prompt (when CFG runs) */
  readonly cond: Float32Array;
  readonly uncond?: Float32Array;
  /** [orig_h, orig_w, crop_top, crop_left, target_h, target_w], the same for both halves */
  readonly timeIds: Float32Array;
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
  /** The UNet's structure: its attn2 layers and skips say which inputs it takes and their shapes. */
  readonly structure: UNetStructure;
  readonly latents: Float32Array;
  readonly latentShape: readonly [number, number, number, number];
  /** [1, L, D] text embeddings; uncond may be absent when guidance <= 1 */
  readonly cond: Float32Array;
  readonly uncond?: Float32Array;
  readonly textShape: readonly [number, number];
  /** Required by UNets with the text_time embedding (SDXL). */
  readonly textTime?: TextTimeRun;
  readonly guidance: number;
  readonly scheduler: Scheduler;
  readonly startIndex: number;
  readonly ip?: IpRun;
  readonly controls: readonly ControlRun[];
  readonly inpaint?: InpaintRun;
  readonly stepNoise?: NoiseSource;
  readonly signal?: AbortSignal;
  /** A returned promise is awaited, so a preview decode finishes before the next step (its cost counts in the step). */
  readonly onStep?: (i: number, latents: Float32Array, denoised: Float32Array | null) => unknown;
}

export function inRange(r: StepRange, i: number, steps: number): boolean {
  const f = i / steps;
  return f >= r.start && (f < r.end || r.end >= 1);
}

const tensor = (data: Float32Array, dims: readonly number[]) => new ort.Tensor('float32', data, [...dims]);

export async function denoise(d: DenoiseInput): Promise<Float32Array> {
  const [, C, h, w] = d.latentShape;
  const cfg = d.uncond !== undefined && d.guidance > 1;
  const B = cfg ? 2 : 1;
  const [L, D] = d.textShape;
  const context = tensor(cfg ? concat(d.uncond!, d.cond) : d.cond, [B, L, D]);
  const added = textTimeFeeds(d, cfg);
  const steps = d.scheduler.steps;

  const unetInputs = new Set(d.unet.inputNames);
  const controlFeedsWanted = unetInputs.has(UNET_IO.midResidual);
  const zeroResiduals = controlFeedsWanted ? zeroResidualFeeds(d.structure, B, h, w) : {};
  const layers = d.structure.attn2.length;

  const ipFeeds: Record<string, ort.Tensor> = {};
  if (unetInputs.has(UNET_IO.ipScale)) {
    for (const [k, m] of ipMaskFeeds(d.ip?.masks ?? d.ip?.layerScales.map(() => undefined) ?? [], d.structure, h, w)) ipFeeds[UNET_IO.ipMask(k)] = tensor(m.data, m.dims);
    const p = d.ip?.packed;
    if (p) {
      p.k.forEach((k, l) => {
        ipFeeds[UNET_IO.ipKey(l)] = tensor(k, p.kShape[l]);
        ipFeeds[UNET_IO.ipValue(l)] = tensor(p.v[l], p.kShape[l]);
      });
      ipFeeds[UNET_IO.ipBias] = tensor(p.bias, [p.adapters, p.tokens]);
    } else {
      d.structure.attn2.forEach(({ channels: c }, l) => {
        const z = tensor(new Float32Array(B * c), [B, 1, 1, c]);
        ipFeeds[UNET_IO.ipKey(l)] = z;
        ipFeeds[UNET_IO.ipValue(l)] = z;
      });
      ipFeeds[UNET_IO.ipBias] = tensor(new Float32Array(1), [1, 1]);
      ipFeeds[UNET_IO.ipScale] = tensor(new Float32Array(layers), [layers, 1]);
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
    const feeds: Record<string, ort.Tensor> = { sample: sampleT, timestep, encoder_hidden_states: context, ...added, ...ipFeeds };
    if (d.ip && unetInputs.has(UNET_IO.ipScale)) {
      const active = d.ip.ranges.map((r) => inRange(r, i, steps));
      feeds[UNET_IO.ipScale] = tensor(ipScaleMatrix(d.ip.layerScales, active, layers), [layers, d.ip.packed.adapters]);
    }
    if (controlFeedsWanted) Object.assign(feeds, (await controlResiduals(d, i, steps, x, t, B, context, added)) ?? zeroResiduals);
    if (d.signal?.aborted) throw new CancelledError();
    const out = await d.unet.run(feeds);
    const eps = cfg ? guidance(out.noise_pred.data as Float32Array, d.guidance) : (out.noise_pred.data as Float32Array);
    latents = d.scheduler.step(eps, i, latents, d.stepNoise);
    if (d.inpaint) latents = blendKnownRegion(d, latents, i + 1, C);
    await d.onStep?.(i, latents, d.scheduler.lastDenoised);
  }
  return latents;
}

/** text_embeds [B, P] and time_ids [B, n] for a text_time UNet (none for SD1.5); batch [uncond, cond] under CFG. */
function textTimeFeeds(d: DenoiseInput, cfg: boolean): Record<string, ort.Tensor> {
  if (!d.structure.textTime) return {};
  const tt = d.textTime;
  if (!tt) throw new Error('this UNet (SDXL) needs pooled text embeddings and time ids');
  if (cfg && !tt.uncond) throw new Error('classifier-free guidance needs the negative prompt\'s pooled embeddings');
  const B = cfg ? 2 : 1;
  return {
    [UNET_IO.textEmbeds]: tensor(cfg ? concat(tt.uncond!, tt.cond) : tt.cond, [B, tt.cond.length]),
    [UNET_IO.timeIds]: tensor(cfg ? duplicate(tt.timeIds) : tt.timeIds, [B, tt.timeIds.length]),
  };
}

/** The cond half of a [2, ...] feed (guess mode runs the ControlNet on it only). */
function condHalf(t: ort.Tensor): ort.Tensor {
  const data = t.data as Float32Array;
  return tensor(data.subarray(data.length / 2), [1, ...t.dims.slice(1)]);
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

/** Zero residuals for every skip and the mid block, for steps where no ControlNet is active. */
function zeroResidualFeeds(shp: UNetStructure, B: number, h: number, w: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  const zeros = (c: number, [hh, ww]: [number, number]) => tensor(new Float32Array(B * c * hh * ww), [B, c, hh, ww]);
  shp.skips.forEach((s, i) => (feeds[UNET_IO.downResidual(i)] = zeros(s.channels, skipSize(s, h, w))));
  feeds[UNET_IO.midResidual] = zeros(shp.mid.channels, skipSize(shp.mid, h, w));
  return feeds;
}

/** Summed residuals of the ControlNets active at step i, or undefined when none is. */
async function controlResiduals(d: DenoiseInput, i: number, steps: number, x: Float32Array, t: number, B: number, context: ort.Tensor, added: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor> | undefined> {
  let sum: Record<string, Float32Array> | undefined;
  let dims: Record<string, readonly number[]> = {};
  for (const c of d.controls) {
    if (!inRange(c.range, i, steps) || c.scales.every((s) => s === 0)) continue;
    // Guess mode: the ControlNet sees only the conditional half; the unconditional half gets none.
    const halfOnly = c.guessMode && B === 2;
    const n = halfOnly ? 1 : B;
    const [, cc, H, W] = c.condShape;
    const ctx = halfOnly ? condHalf(context) : context;
    const extra = Object.fromEntries(Object.entries(added).filter(([name]) => c.session.inputNames.includes(name)).map(([name, v]) => [name, halfOnly ? condHalf(v) : v]));
    const out = await c.session.run({
      ...extra,
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
