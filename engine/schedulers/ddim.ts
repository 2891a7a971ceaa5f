/** DDIM (diffusers DDIMScheduler, epsilon prediction, optional eta). */
import type { SamplerName } from '../api.ts';
import { BaseScheduler } from './base.ts';
import { alphasCumprod, linspace, roundHalfEven, trailingTimesteps, type SchedulerConfig, type TimestepSpacing } from './schedule.ts';
import type { NoiseSource } from './types.ts';

/** DDIM / LCM-style integer timesteps for `leading` | `linspace` | `trailing` spacing. */
export function ddimTimesteps(cfg: SchedulerConfig, steps: number, spacing: TimestepSpacing): number[] {
  const T = cfg.numTrainTimesteps;
  if (steps > T) throw new RangeError(`steps (${steps}) cannot exceed the ${T} training timesteps`);
  if (spacing === 'leading') {
    const ratio = Math.floor(T / steps);
    const out: number[] = [];
    for (let k = steps - 1; k >= 0; k--) out.push(k * ratio + cfg.stepsOffset);
    return out;
  }
  if (spacing === 'linspace') return linspace(0, T - 1, steps).map(roundHalfEven).reverse();
  return trailingTimesteps(T, steps);
}

export class DdimScheduler extends BaseScheduler {
  private readonly finalAlphaCumprod: number;
  private readonly stepRatio: number;

  /** `name` is what the sampler reports ('ddim', or 'ddim-trailing' with trailing spacing in cfg). */
  constructor(cfg: SchedulerConfig, steps: number, private readonly eta = 0, name: SamplerName = 'ddim') {
    const ac = alphasCumprod(cfg);
    super({
      name,
      steps,
      config: cfg,
      timesteps: ddimTimesteps(cfg, steps, cfg.timestepSpacing ?? 'leading'),
      sigmas: null,
      alphasCumprod: ac,
      initNoiseSigma: 1,
      stochastic: eta > 0,
    });
    this.finalAlphaCumprod = cfg.setAlphaToOne ? 1 : ac[0];
    // diffusers steps back by T // steps whatever the spacing.
    this.stepRatio = Math.floor(cfg.numTrainTimesteps / steps);
  }

  addNoiseCoeffs(i: number): [number, number] {
    if (i >= this.steps) return [1, 0];
    const a = this.alphasCumprod[this.timesteps[i]];
    return [Math.sqrt(a), Math.sqrt(1 - a)];
  }

  protected stepImpl(eps: Float32Array, i: number, x: Float32Array, noise?: NoiseSource): Float32Array {
    const t = this.timesteps[i];
    const prevT = t - this.stepRatio;
    const a = this.alphasCumprod[t];
    const ap = prevT >= 0 ? this.alphasCumprod[prevT] : this.finalAlphaCumprod;
    const sqrtA = Math.sqrt(a);
    const sqrtB = Math.sqrt(1 - a);
    const variance = ((1 - ap) / (1 - a)) * (1 - a / ap);
    const std = this.eta * Math.sqrt(variance);
    const dirCoef = Math.sqrt(1 - ap - std * std);
    const sqrtAp = Math.sqrt(ap);
    const n = x.length;
    const out = new Float32Array(n);
    const x0 = this.x0Buffer(n);
    for (let k = 0; k < n; k++) {
      const pred = (x[k] - sqrtB * eps[k]) / sqrtA;
      x0[k] = pred;
      out[k] = sqrtAp * pred + dirCoef * eps[k];
    }
    if (std > 0) {
      const z = this.drawNoise(noise, n);
      for (let k = 0; k < n; k++) out[k] += std * z[k];
    }
    this.lastDenoised = x0;
    return out;
  }
}
