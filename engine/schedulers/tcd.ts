/**
 * TCD (diffusers TCDScheduler, epsilon prediction): Trajectory Consistency Distillation's strategic
 * stochastic sampling. Each step jumps from t to the earlier time s = floor((1 - gamma) * t_prev) along
 * the predicted trajectory, then re-noises from s up to t_prev. gamma ("eta" in diffusers' step()) = 0
 * is deterministic; 0.3 is diffusers' default and what TCD's model card uses; Hyper-SD's unified LoRA
 * uses up to 1.0.
 */
import { BaseScheduler } from './base.ts';
import { lcmTimesteps } from './lcm.ts';
import { alphasCumprod, type SchedulerConfig } from './schedule.ts';
import type { NoiseSource } from './types.ts';

/** diffusers' default gamma (the `eta` argument of TCDScheduler.step). */
export const TCD_DEFAULT_GAMMA = 0.3;

/** The intermediate time s of step i: floor((1 - gamma) * t_prev), t_prev = next timestep or 0 after the last. */
export function tcdTimestepS(timesteps: readonly number[], i: number, gamma: number): number {
  const prevT = i + 1 < timesteps.length ? timesteps[i + 1] : 0;
  return Math.floor((1 - gamma) * prevT);
}

export class TcdScheduler extends BaseScheduler {
  private readonly finalAlphaCumprod: number;
  /** x_s of the last step (diffusers' pred_noised_sample); reused buffer like lastDenoised. */
  lastNoisedSample: Float32Array | null = null;
  /** s of the last step. */
  lastTimestepS = -1;
  private noisedBuf: Float32Array | null = null;

  constructor(cfg: SchedulerConfig, steps: number, readonly gamma = TCD_DEFAULT_GAMMA) {
    if (!(gamma >= 0 && gamma <= 1)) throw new RangeError(`tcd: gamma (eta) must be in [0, 1], got ${gamma}`);
    const ac = alphasCumprod(cfg);
    // Same timestep picking as LCM: both sample the distillation schedule of originalInferenceSteps.
    super({ name: 'tcd', steps, config: cfg, timesteps: lcmTimesteps(cfg, steps), sigmas: null, alphasCumprod: ac, initNoiseSigma: 1, stochastic: gamma > 0 && steps > 1 });
    this.finalAlphaCumprod = cfg.setAlphaToOne ? 1 : ac[0];
  }

  addNoiseCoeffs(i: number): [number, number] {
    if (i >= this.steps) return [1, 0];
    const a = this.alphasCumprod[this.timesteps[i]];
    return [Math.sqrt(a), Math.sqrt(1 - a)];
  }

  protected override resetHistory(): void {
    this.lastNoisedSample = null;
    this.lastTimestepS = -1;
  }

  protected stepImpl(eps: Float32Array, i: number, x: Float32Array, noise?: NoiseSource): Float32Array {
    const t = this.timesteps[i];
    const last = i === this.steps - 1;
    const prevT = last ? 0 : this.timesteps[i + 1];
    const s = tcdTimestepS(this.timesteps, i, this.gamma);
    const a = this.alphasCumprod[t];
    const ap = prevT >= 0 ? this.alphasCumprod[prevT] : this.finalAlphaCumprod;
    const as = this.alphasCumprod[s];
    const sqrtA = Math.sqrt(a);
    const sqrtB = Math.sqrt(1 - a);
    const sqrtAs = Math.sqrt(as);
    const sqrtBs = Math.sqrt(1 - as);
    const n = x.length;
    const x0 = this.x0Buffer(n);
    if (!this.noisedBuf || this.noisedBuf.length !== n) this.noisedBuf = new Float32Array(n);
    const xs = this.noisedBuf;
    for (let k = 0; k < n; k++) {
      x0[k] = (x[k] - sqrtB * eps[k]) / sqrtA;
      xs[k] = sqrtAs * x0[k] + sqrtBs * eps[k];
    }
    this.lastDenoised = x0;
    this.lastNoisedSample = xs;
    this.lastTimestepS = s;
    const out = new Float32Array(n);
    // gamma = 0, or the last step: x_s is the result and no noise is drawn (as diffusers).
    if (this.gamma === 0 || last) {
      out.set(xs);
      return out;
    }
    const z = this.drawNoise(noise, n);
    const keep = Math.sqrt(ap / as);
    const fresh = Math.sqrt(1 - ap / as);
    for (let k = 0; k < n; k++) out[k] = keep * xs[k] + fresh * z[k];
    return out;
  }
}
