/** LCM (diffusers LCMScheduler, epsilon prediction): consistency-model boundary condition, fresh noise each step. */
import { BaseScheduler } from './base.ts';
import { alphasCumprod, type SchedulerConfig } from './schedule.ts';
import type { NoiseSource } from './types.ts';

/**
 * Timesteps picked from the distillation schedule (every T / originalSteps-th timestep, last one T - 1), evenly by
 * index: lcm[floor(k * len / steps)] over the reversed list.
 */
export function lcmTimesteps(cfg: SchedulerConfig, steps: number): number[] {
  const original = cfg.originalInferenceSteps;
  const k = Math.floor(cfg.numTrainTimesteps / original);
  if (steps > original) throw new RangeError(`LCM supports at most ${original} steps (got ${steps})`);
  const origin: number[] = [];
  for (let j = original; j >= 1; j--) origin.push(j * k - 1);
  const out: number[] = [];
  for (let j = 0; j < steps; j++) out.push(origin[Math.floor(j * (original / steps))]);
  return out;
}

export class LcmScheduler extends BaseScheduler {
  private readonly finalAlphaCumprod: number;

  constructor(cfg: SchedulerConfig, steps: number) {
    const ac = alphasCumprod(cfg);
    super({ name: 'lcm', steps, config: cfg, timesteps: lcmTimesteps(cfg, steps), sigmas: null, alphasCumprod: ac, initNoiseSigma: 1, stochastic: true });
    this.finalAlphaCumprod = cfg.setAlphaToOne ? 1 : ac[0];
  }

  addNoiseCoeffs(i: number): [number, number] {
    if (i >= this.steps) return [1, 0];
    const a = this.alphasCumprod[this.timesteps[i]];
    return [Math.sqrt(a), Math.sqrt(1 - a)];
  }

  /** c_skip, c_out of the boundary condition at timestep t (sigma_data 0.5, t scaled by timestepScaling). */
  private scalings(t: number): { cSkip: number; cOut: number } {
    const st = t * this.config.timestepScaling;
    const d2 = 0.25;
    return { cSkip: d2 / (st * st + d2), cOut: st / Math.sqrt(st * st + d2) };
  }

  protected stepImpl(eps: Float32Array, i: number, x: Float32Array, noise?: NoiseSource): Float32Array {
    const t = this.timesteps[i];
    const last = i === this.steps - 1;
    const prevT = last ? t : this.timesteps[i + 1];
    const a = this.alphasCumprod[t];
    const ap = prevT >= 0 ? this.alphasCumprod[prevT] : this.finalAlphaCumprod;
    const sqrtA = Math.sqrt(a);
    const sqrtB = Math.sqrt(1 - a);
    const { cSkip, cOut } = this.scalings(t);
    const n = x.length;
    const denoised = this.x0Buffer(n);
    for (let k = 0; k < n; k++) denoised[k] = cOut * ((x[k] - sqrtB * eps[k]) / sqrtA) + cSkip * x[k];
    this.lastDenoised = denoised;
    const out = new Float32Array(n);
    if (last) {
      out.set(denoised);
      return out;
    }
    // No noise is drawn at the last step (diffusers returns `denoised` there).
    const z = this.drawNoise(noise, n);
    const sa = Math.sqrt(ap);
    const sb = Math.sqrt(1 - ap);
    for (let k = 0; k < n; k++) out[k] = sa * denoised[k] + sb * z[k];
    return out;
  }
}
