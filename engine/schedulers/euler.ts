/** Euler and Euler ancestral (diffusers EulerDiscreteScheduler with s_churn 0, EulerAncestralDiscreteScheduler). */
import { BaseScheduler } from './base.ts';
import type { SamplerName } from '../api.ts';
import { alphasCumprod, interpIndex, linspace, linspaceF32, trailingTimesteps, trainSigmas, type SchedulerConfig, type TimestepSpacing } from './schedule.ts';
import type { NoiseSource } from './types.ts';

/** Float timesteps of the Euler family (float32 values, like diffusers). */
export function eulerTimesteps(cfg: SchedulerConfig, steps: number, spacing: TimestepSpacing): number[] {
  const T = cfg.numTrainTimesteps;
  if (spacing === 'linspace') return linspace(0, T - 1, steps).map(Math.fround).reverse();
  if (spacing === 'leading') {
    const ratio = Math.floor(T / steps);
    const out: number[] = [];
    for (let k = steps - 1; k >= 0; k--) out.push(Math.fround(k * ratio + cfg.stepsOffset));
    return out;
  }
  return trailingTimesteps(T, steps);
}

interface SigmaSchedule {
  readonly timesteps: number[];
  readonly sigmas: Float32Array;
  readonly initNoiseSigma: number;
  readonly ac: Float32Array;
}

/**
 * How the sigmas are placed: diffusers' EulerDiscreteScheduler (timestep spacing from the config, sigma
 * linearly interpolated in the training table), or ComfyUI's `sgm_uniform` (fractional timesteps evenly
 * from T-1 towards 0, sigma interpolated in log space), which Lightning / Turbo / Hyper-SD workflows use
 * in ComfyUI. diffusers 0.30.3 has no sgm_uniform; its trailing spacing is the nearest (integer timesteps).
 */
export type SigmaPlacement = 'diffusers' | 'sgm-uniform';

/** ComfyUI's sgm_uniform timesteps: torch.linspace(T - 1, 0, steps + 1)[:-1] (float32). */
export function sgmUniformTimesteps(T: number, steps: number): number[] {
  return Array.from(linspaceF32(T - 1, 0, steps + 1).subarray(0, steps));
}

/** sigma of a fractional timestep by linear interpolation of log sigma between its two neighbours (ComfyUI). */
export function logSigmaAt(t: number, table: Float32Array): number {
  const c = Math.min(Math.max(t, 0), table.length - 1);
  const lo = Math.floor(c);
  const hi = Math.ceil(c);
  const w = c - lo;
  return Math.exp((1 - w) * Math.log(table[lo]) + w * Math.log(table[hi]));
}

/** Timesteps, steps + 1 sigmas (interpolated from the training sigmas, then 0), and the initial sigma. */
function eulerSchedule(cfg: SchedulerConfig, steps: number, placement: SigmaPlacement): SigmaSchedule {
  const ac = alphasCumprod(cfg);
  const table = trainSigmas(ac);
  const spacing = placement === 'sgm-uniform' ? 'trailing' : cfg.timestepSpacing ?? 'linspace';
  const timesteps = placement === 'sgm-uniform' ? sgmUniformTimesteps(cfg.numTrainTimesteps, steps) : eulerTimesteps(cfg, steps, spacing);
  const sigmas = new Float32Array(timesteps.length + 1);
  timesteps.forEach((t, k) => (sigmas[k] = placement === 'sgm-uniform' ? logSigmaAt(t, table) : interpIndex(t, table)));
  let max = 0;
  for (const s of sigmas) max = Math.max(max, s);
  // diffusers: the largest sigma for linspace / trailing spacing, sqrt(max^2 + 1) for leading. sgm-uniform
  // starts at sigma_max like trailing.
  const initNoiseSigma = spacing === 'leading' ? Math.sqrt(max * max + 1) : max;
  return { timesteps, sigmas, initNoiseSigma, ac };
}

abstract class EulerBase extends BaseScheduler {
  protected readonly sig: Float32Array;

  constructor(name: SamplerName, cfg: SchedulerConfig, steps: number, ancestral: boolean, placement: SigmaPlacement) {
    const s = eulerSchedule(cfg, steps, placement);
    super({ name, steps, config: cfg, timesteps: s.timesteps, sigmas: s.sigmas, alphasCumprod: s.ac, initNoiseSigma: s.initNoiseSigma, stochastic: ancestral });
    this.sig = s.sigmas;
  }

  override inputScale(i: number): number {
    const s = this.sig[i];
    return 1 / Math.sqrt(s * s + 1);
  }

  addNoiseCoeffs(i: number): [number, number] {
    return [1, this.sig[Math.min(i, this.steps)]];
  }

  /** x + eps * dt with eps = (x - x0) / sigma, x0 = x - sigma * eps; also records x0. */
  protected eulerMove(eps: Float32Array, x: Float32Array, sigma: number, dt: number): Float32Array {
    const n = x.length;
    const out = new Float32Array(n);
    const x0 = this.x0Buffer(n);
    for (let k = 0; k < n; k++) {
      x0[k] = x[k] - sigma * eps[k];
      out[k] = x[k] + eps[k] * dt;
    }
    this.lastDenoised = x0;
    return out;
  }
}

export class EulerScheduler extends EulerBase {
  /** `name` is what the sampler reports ('euler', 'euler-trailing', 'sgm-uniform'); the spacing is in cfg. */
  constructor(cfg: SchedulerConfig, steps: number, name: SamplerName = 'euler', placement: SigmaPlacement = 'diffusers') {
    super(name, cfg, steps, false, placement);
  }

  protected stepImpl(eps: Float32Array, i: number, x: Float32Array): Float32Array {
    const sigma = this.sig[i];
    return this.eulerMove(eps, x, sigma, this.sig[i + 1] - sigma);
  }
}

export class EulerAncestralScheduler extends EulerBase {
  constructor(cfg: SchedulerConfig, steps: number, name: SamplerName = 'euler-ancestral') {
    super(name, cfg, steps, true, 'diffusers');
  }

  protected stepImpl(eps: Float32Array, i: number, x: Float32Array, noise?: NoiseSource): Float32Array {
    const from = this.sig[i];
    const to = this.sig[i + 1];
    const up = Math.sqrt((to * to * (from * from - to * to)) / (from * from));
    const down = Math.sqrt(to * to - up * up);
    const out = this.eulerMove(eps, x, from, down - from);
    // Drawn at every step, the last (up = 0) included, as diffusers does: keeps a noise stream aligned.
    const z = this.drawNoise(noise, x.length);
    for (let k = 0; k < out.length; k++) out[k] += z[k] * up;
    return out;
  }
}
