/** Euler and Euler ancestral (diffusers EulerDiscreteScheduler with s_churn 0, EulerAncestralDiscreteScheduler). */
import { BaseScheduler } from './base.ts';
import { alphasCumprod, interpIndex, linspace, trailingTimesteps, trainSigmas, type SchedulerConfig, type TimestepSpacing } from './schedule.ts';
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

/** Timesteps, steps + 1 sigmas (linear interpolation of the training sigmas, then 0), and the initial sigma. */
function eulerSchedule(cfg: SchedulerConfig, steps: number): SigmaSchedule {
  const ac = alphasCumprod(cfg);
  const table = trainSigmas(ac);
  const spacing = cfg.timestepSpacing ?? 'linspace';
  const timesteps = eulerTimesteps(cfg, steps, spacing);
  const sigmas = new Float32Array(timesteps.length + 1);
  timesteps.forEach((t, k) => (sigmas[k] = interpIndex(t, table)));
  let max = 0;
  for (const s of sigmas) max = Math.max(max, s);
  // diffusers: the largest sigma for linspace / trailing spacing, sqrt(max^2 + 1) for leading.
  const initNoiseSigma = spacing === 'leading' ? Math.sqrt(max * max + 1) : max;
  return { timesteps, sigmas, initNoiseSigma, ac };
}

abstract class EulerBase extends BaseScheduler {
  protected readonly sig: Float32Array;

  constructor(name: 'euler' | 'euler-ancestral', cfg: SchedulerConfig, steps: number) {
    const s = eulerSchedule(cfg, steps);
    super({ name, steps, config: cfg, timesteps: s.timesteps, sigmas: s.sigmas, alphasCumprod: s.ac, initNoiseSigma: s.initNoiseSigma, stochastic: name === 'euler-ancestral' });
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
  constructor(cfg: SchedulerConfig, steps: number) {
    super('euler', cfg, steps);
  }

  protected stepImpl(eps: Float32Array, i: number, x: Float32Array): Float32Array {
    const sigma = this.sig[i];
    return this.eulerMove(eps, x, sigma, this.sig[i + 1] - sigma);
  }
}

export class EulerAncestralScheduler extends EulerBase {
  constructor(cfg: SchedulerConfig, steps: number) {
    super('euler-ancestral', cfg, steps);
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
