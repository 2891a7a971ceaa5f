/** What every sampler shares: index bookkeeping, img2img strength, noise plumbing, input scaling. */
import type { SamplerName } from '../api.ts';
import type { SchedulerConfig } from './schedule.ts';
import type { NoiseSource, Scheduler, StrengthSchedule } from './types.ts';

export interface SchedulerInit {
  readonly name: SamplerName;
  readonly steps: number;
  readonly config: SchedulerConfig;
  readonly timesteps: readonly number[];
  readonly sigmas: Float32Array | null;
  readonly alphasCumprod: Float32Array;
  readonly initNoiseSigma: number;
  readonly stochastic: boolean;
}

export abstract class BaseScheduler implements Scheduler {
  readonly name: SamplerName;
  readonly steps: number;
  readonly order = 1;
  readonly timesteps: readonly number[];
  readonly sigmas: Float32Array | null;
  readonly alphasCumprod: Float32Array;
  readonly initNoiseSigma: number;
  readonly stochastic: boolean;
  protected readonly config: SchedulerConfig;
  lastDenoised: Float32Array | null = null;
  /** Index of the previous step() in the current run, -1 before the first. */
  private prevIndex = -1;
  private x0Buf: Float32Array | null = null;

  constructor(init: SchedulerInit) {
    this.name = init.name;
    this.steps = init.steps;
    this.config = init.config;
    this.timesteps = init.timesteps;
    this.sigmas = init.sigmas;
    this.alphasCumprod = init.alphasCumprod;
    this.initNoiseSigma = init.initNoiseSigma;
    this.stochastic = init.stochastic;
  }

  inputScale(_i: number): number {
    return 1;
  }

  scaleModelInput(sample: Float32Array, i: number, out: Float32Array = new Float32Array(sample.length)): Float32Array {
    const s = this.inputScale(i);
    for (let k = 0; k < sample.length; k++) out[k] = sample[k] * s;
    return out;
  }

  step(modelOutput: Float32Array, i: number, sample: Float32Array, noise?: NoiseSource): Float32Array {
    this.checkIndex(i);
    if (modelOutput.length !== sample.length) {
      throw new RangeError(`${this.name}: model output has ${modelOutput.length} elements, sample ${sample.length}`);
    }
    // A step that does not continue the previous one starts a new run (img2img start, a second image).
    if (i !== this.prevIndex + 1) this.reset();
    this.prevIndex = i;
    return this.stepImpl(modelOutput, i, sample, noise);
  }

  reset(): void {
    this.prevIndex = -1;
    this.lastDenoised = null;
    this.resetHistory();
  }

  addNoise(x0: Float32Array, noise: Float32Array, i: number, out: Float32Array = new Float32Array(x0.length)): Float32Array {
    if (noise.length !== x0.length) throw new RangeError(`${this.name}: noise has ${noise.length} elements, x0 ${x0.length}`);
    const [a, b] = this.addNoiseCoeffs(i);
    for (let k = 0; k < x0.length; k++) out[k] = a * x0[k] + b * noise[k];
    return out;
  }

  timestepsForStrength(strength: number): StrengthSchedule {
    if (!(strength >= 0 && strength <= 1)) throw new RangeError(`strength must be in [0, 1], got ${strength}`);
    // Same integer arithmetic as diffusers: int() truncates, and float products are identical in JS.
    const init = Math.min(Math.trunc(this.steps * strength), this.steps);
    const startIndex = Math.max(this.steps - init, 0) * this.order;
    return { startIndex, timesteps: this.timesteps.slice(startIndex) };
  }

  abstract addNoiseCoeffs(i: number): [number, number];
  protected abstract stepImpl(modelOutput: Float32Array, i: number, sample: Float32Array, noise?: NoiseSource): Float32Array;
  protected resetHistory(): void {}

  protected checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.steps) throw new RangeError(`${this.name}: step index ${i} outside 0..${this.steps - 1}`);
  }

  /** A reused buffer for the x0 estimate (lastDenoised stays valid until the next step()). */
  protected x0Buffer(n: number): Float32Array {
    if (!this.x0Buf || this.x0Buf.length !== n) this.x0Buf = new Float32Array(n);
    return this.x0Buf;
  }

  /** Resolves a noise source to an array of the given length (throws when a stochastic step got none). */
  protected drawNoise(noise: NoiseSource | undefined, length: number): Float32Array {
    if (noise === undefined) throw new Error(`${this.name}: this step draws noise; pass a noise source`);
    const n = typeof noise === 'function' ? noise(length) : noise;
    if (n.length !== length) throw new RangeError(`${this.name}: noise has ${n.length} elements, expected ${length}`);
    return n;
  }
}
