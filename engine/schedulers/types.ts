/** The sampler interface the pipeline drives; one implementation per diffusers scheduler. */
import type { SamplerName } from '../api.ts';

/**
 * Standard-normal noise for a stochastic step: an array of the sample's length, or a function returning one
 * (called only when the step actually draws noise).
 */
export type NoiseSource = Float32Array | ((length: number) => Float32Array);

export interface StrengthSchedule {
  /** Index of the first step to run (t_start * order in diffusers' img2img get_timesteps). */
  readonly startIndex: number;
  /** timesteps[startIndex:], what the UNet receives in the remaining steps. */
  readonly timesteps: readonly number[];
}

export interface Scheduler {
  readonly name: SamplerName;
  /** Number of inference steps the schedule was built for. */
  readonly steps: number;
  /** diffusers' scheduler.order (1 for every sampler here: one model call per step). */
  readonly order: number;
  /** UNet timestep per step: integers for DDIM / LCM / DPM++ / UniPC, float32 values for the Euler family. */
  readonly timesteps: readonly number[];
  /** steps + 1 sigmas for sigma-based samplers (last = 0), null for DDIM / LCM. */
  readonly sigmas: Float32Array | null;
  /** The training schedule (float32, 1000 entries). */
  readonly alphasCumprod: Float32Array;
  /** Multiplier of unit noise for the starting latents of txt2img. */
  readonly initNoiseSigma: number;
  /** Whether step() draws fresh noise (Euler ancestral at every step, LCM at every step but the last). */
  readonly stochastic: boolean;
  /** Factor the UNet input is multiplied with at step i (diffusers' scale_model_input). */
  inputScale(i: number): number;
  /** sample * inputScale(i) into out (a new array when out is omitted). */
  scaleModelInput(sample: Float32Array, i: number, out?: Float32Array): Float32Array;
  /**
   * One denoising step from step i's model output (epsilon). Returns a new array. Steps must run in order;
   * a step whose index does not follow the previous one starts a fresh run (multistep history cleared), so an
   * img2img run may begin at startIndex.
   */
  step(modelOutput: Float32Array, i: number, sample: Float32Array, noise?: NoiseSource): Float32Array;
  /**
   * The denoised estimate (x0) of the last step() (LCM's `denoised`; pred_original_sample for the others), e.g.
   * for previews. A buffer the scheduler reuses: valid until the next step(); copy it to keep it.
   */
  readonly lastDenoised: Float32Array | null;
  /** [a, b] with addNoise(x0, n, i) = a * x0 + b * n: x0 noised to the level the step at index i expects. */
  addNoiseCoeffs(i: number): [number, number];
  addNoise(x0: Float32Array, noise: Float32Array, i: number, out?: Float32Array): Float32Array;
  /** img2img: the steps left for a denoising strength in [0, 1] (StableDiffusionImg2ImgPipeline.get_timesteps). */
  timestepsForStrength(strength: number): StrengthSchedule;
  /** Clears multistep history. */
  reset(): void;
}
