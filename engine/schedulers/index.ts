/**
 * Samplers matching diffusers 0.30.3 on the SD1.5 scheduler config. Usage (txt2img):
 *
 *   const s = createScheduler('dpmpp-2m-karras', 20);
 *   let x = noise.map((v) => v * s.initNoiseSigma);
 *   for (let i = 0; i < s.steps; i++) {
 *     const eps = unet(s.scaleModelInput(x, i), s.timesteps[i]);
 *     x = s.step(eps, i, x, rngSource);
 *   }
 *
 * img2img: `const { startIndex } = s.timestepsForStrength(strength)`, `x = s.addNoise(init, noise, startIndex)`,
 * then the same loop from i = startIndex.
 */
import type { SamplerName } from '../api.ts';
import { DdimScheduler } from './ddim.ts';
import { DpmSolverScheduler } from './dpm.ts';
import { EulerAncestralScheduler, EulerScheduler } from './euler.ts';
import { LcmScheduler } from './lcm.ts';
import { TCD_DEFAULT_GAMMA, TcdScheduler } from './tcd.ts';
import { SD15_SCHEDULER_CONFIG, type BetaSchedule, type SchedulerConfig, type TimestepSpacing } from './schedule.ts';
import type { Scheduler } from './types.ts';
import { UniPcScheduler } from './unipc.ts';

export type { NoiseSource, Scheduler, StrengthSchedule } from './types.ts';
export { SD15_SCHEDULER_CONFIG, alphasCumprod, type SchedulerConfig, type TimestepSpacing } from './schedule.ts';
export { TCD_DEFAULT_GAMMA, TcdScheduler } from './tcd.ts';

export interface SchedulerOptions {
  /** Overrides of the SD1.5 config (e.g. from a model's scheduler_config.json via fromDiffusersConfig). */
  readonly config?: Partial<SchedulerConfig>;
  /**
   * DDIM: eta > 0 makes DDIM stochastic (needs a noise source in step()), default 0. TCD: gamma, the share of
   * each step that is re-noised (0 = deterministic), default 0.3 as diffusers.
   */
  readonly eta?: number;
}

/** The `*-trailing` samplers: the base sampler with timestep_spacing forced to "trailing". */
const trailing = (cfg: SchedulerConfig): SchedulerConfig => ({ ...cfg, timestepSpacing: 'trailing' });

export function createScheduler(name: SamplerName, steps: number, opts: SchedulerOptions = {}): Scheduler {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  const cfg: SchedulerConfig = { ...SD15_SCHEDULER_CONFIG, ...opts.config };
  switch (name) {
    case 'ddim':
      return new DdimScheduler(cfg, steps, opts.eta ?? 0);
    case 'euler':
      return new EulerScheduler(cfg, steps);
    case 'euler-ancestral':
      return new EulerAncestralScheduler(cfg, steps);
    case 'dpmpp-2m':
      return new DpmSolverScheduler(cfg, steps, false);
    case 'dpmpp-2m-karras':
      return new DpmSolverScheduler(cfg, steps, true);
    case 'lcm':
      return new LcmScheduler(cfg, steps);
    case 'unipc':
      return new UniPcScheduler(cfg, steps);
    case 'tcd':
      return new TcdScheduler(cfg, steps, opts.eta ?? TCD_DEFAULT_GAMMA);
    case 'euler-trailing':
      return new EulerScheduler(trailing(cfg), steps, name);
    case 'euler-ancestral-trailing':
      return new EulerAncestralScheduler(trailing(cfg), steps, name);
    case 'ddim-trailing':
      return new DdimScheduler(trailing(cfg), steps, opts.eta ?? 0, name);
    case 'sgm-uniform':
      return new EulerScheduler(cfg, steps, name, 'sgm-uniform');
    default: {
      const never: never = name;
      throw new RangeError(`unknown sampler ${String(never)}`);
    }
  }
}

const CLASS_TO_SAMPLER: Record<string, SamplerName> = {
  DDIMScheduler: 'ddim',
  EulerDiscreteScheduler: 'euler',
  EulerAncestralDiscreteScheduler: 'euler-ancestral',
  DPMSolverMultistepScheduler: 'dpmpp-2m',
  LCMScheduler: 'lcm',
  UniPCMultistepScheduler: 'unipc',
  TCDScheduler: 'tcd',
};

const TRAILING: Partial<Record<SamplerName, SamplerName>> = { euler: 'euler-trailing', 'euler-ancestral': 'euler-ancestral-trailing', ddim: 'ddim-trailing' };

/** Values a diffusers config may hold that these implementations reproduce; anything else is refused. */
const SUPPORTED: Record<string, (v: unknown) => boolean> = {
  prediction_type: (v) => v === 'epsilon',
  thresholding: (v) => v === false,
  clip_sample: (v) => v === false,
  rescale_betas_zero_snr: (v) => v === false,
  trained_betas: (v) => v === null,
  final_sigmas_type: (v) => v === 'zero',
  interpolation_type: (v) => v === 'linear',
  timestep_type: (v) => v === 'discrete',
  algorithm_type: (v) => v === 'dpmsolver++',
  solver_order: (v) => v === 2,
  solver_type: (v) => v === 'midpoint' || v === 'bh2',
  lower_order_final: (v) => v === true,
  euler_at_final: (v) => v === false,
  use_lu_lambdas: (v) => v === false,
  predict_x0: (v) => v === true,
  disable_corrector: (v) => Array.isArray(v) && v.length === 0,
  solver_p: (v) => v === null,
  sigma_min: (v) => v === null,
  sigma_max: (v) => v === null,
  variance_type: (v) => v === null,
  lambda_min_clipped: (v) => v === null || v === -Infinity || v === '-Infinity',
};

/**
 * Reads a diffusers scheduler config (scheduler_config.json, `_class_name` or an explicit class name) into a
 * sampler name and SchedulerConfig; throws naming the first setting these samplers do not implement.
 */
export function fromDiffusersConfig(json: Record<string, unknown>, className?: string): { sampler: SamplerName; config: SchedulerConfig } {
  const cls = className ?? (typeof json._class_name === 'string' ? json._class_name : '');
  let sampler = CLASS_TO_SAMPLER[cls];
  if (!sampler) throw new Error(`unsupported scheduler class "${cls}"`);
  for (const [key, ok] of Object.entries(SUPPORTED)) {
    if (key in json && !ok(json[key])) throw new Error(`${cls}: ${key} = ${JSON.stringify(json[key])} is not supported`);
  }
  if (json.use_karras_sigmas === true) {
    if (sampler !== 'dpmpp-2m') throw new Error(`${cls}: use_karras_sigmas is only supported for DPM++ 2M`);
    sampler = 'dpmpp-2m-karras';
  }
  // A trailing config (SDXL-Lightning, SDXL-Turbo, Hyper-SD) names the sampler that always spaces that way.
  if (json.timestep_spacing === 'trailing') sampler = TRAILING[sampler] ?? sampler;
  const num = (k: string, d: number): number => (typeof json[k] === 'number' ? (json[k] as number) : d);
  const base = SD15_SCHEDULER_CONFIG;
  const schedule = json.beta_schedule ?? base.betaSchedule;
  if (schedule !== 'scaled_linear' && schedule !== 'linear') throw new Error(`${cls}: beta_schedule ${JSON.stringify(schedule)} is not supported`);
  const spacing = json.timestep_spacing;
  if (spacing !== undefined && spacing !== 'leading' && spacing !== 'linspace' && spacing !== 'trailing') {
    throw new Error(`${cls}: timestep_spacing ${JSON.stringify(spacing)} is not supported`);
  }
  const config: SchedulerConfig = {
    numTrainTimesteps: num('num_train_timesteps', base.numTrainTimesteps),
    betaStart: num('beta_start', base.betaStart),
    betaEnd: num('beta_end', base.betaEnd),
    betaSchedule: schedule as BetaSchedule,
    stepsOffset: num('steps_offset', base.stepsOffset),
    timestepSpacing: spacing as TimestepSpacing | undefined,
    setAlphaToOne: json.set_alpha_to_one === true,
    originalInferenceSteps: num('original_inference_steps', base.originalInferenceSteps),
    timestepScaling: num('timestep_scaling', base.timestepScaling),
  };
  return { sampler, config };
}
