/**
 * `scheduler` and `scheduler-img2img` fixture kinds: the sampling loop on fixed model outputs, and img2img
 * timestep selection by strength (format: ../shared/fixtures/README.md).
 */
import { compareOutputs, compareTensor, input, type CheckResult, type GotTensor } from '../compare.ts';
import type { FixtureCase } from '../fixture.ts';
import { TcdScheduler, createScheduler, fromDiffusersConfig } from '../../schedulers/index.ts';
import type { Scheduler } from '../../schedulers/types.ts';
import type { SamplerName } from '../../api.ts';

function record(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${what} missing or not an object`);
  return v as Record<string, unknown>;
}

/**
 * The case's scheduler as the pipelines build it: `from_config(base config, **overrides)` where the case
 * gives them (the SDXL set: config.base_config_sdxl + config.overrides), else its full scheduler_config.
 * params.eta is TCD's gamma (and DDIM's eta).
 */
function schedulerFromCase(c: FixtureCase, steps: number): Scheduler {
  const cls = c.config.class_name;
  const base = c.config.base_config_sdxl ?? c.config.base_config;
  const json = base !== undefined
    ? { ...record(base, 'config.base_config_sdxl'), ...record(c.config.overrides ?? {}, 'config.overrides') }
    : record(c.config.scheduler_config, 'config.scheduler_config');
  const { sampler, config } = fromDiffusersConfig(json, typeof cls === 'string' ? cls : undefined);
  const eta = typeof c.params.eta === 'number' ? c.params.eta : undefined;
  return createScheduler(sampler, steps, { config, eta });
}

/** latents = noise * init_noise_sigma; per step: scale, step with the given model output (and step noise). */
export async function runSchedulerCase(c: FixtureCase): Promise<CheckResult[]> {
  const steps = Number(c.params.num_inference_steps);
  const s = schedulerFromCase(c, steps);
  const noise = input(c, 'noise');
  const eps = input(c, 'model_outputs').data;
  const stepNoise = c.io?.has('in.step_noise') ? input(c, 'step_noise').data : null;
  const n = noise.data.length;
  const drawnAt = new Set((c.params.noise_drawn_at_steps as number[] | undefined) ?? []);

  let x: Float32Array = Float32Array.from(noise.data, (v) => v * s.initNoiseSigma);
  const latents = new Float32Array(steps * n);
  const denoised = new Float32Array(steps * n);
  // TCD's x_s per step and its s (pred_noised_sample, timestep_s in the reference).
  const noised = new Float32Array(steps * n);
  const timestepS: number[] = [];
  const scales = new Float32Array(steps);
  const drawn: number[] = [];
  for (let i = 0; i < steps; i++) {
    scales[i] = s.inputScale(i);
    const source = stepNoise
      ? (len: number): Float32Array => {
        drawn.push(i);
        return stepNoise.subarray(i * len, (i + 1) * len);
      }
      : undefined;
    x = s.step(eps.subarray(i * n, (i + 1) * n), i, x, source);
    latents.set(x, i * n);
    if (s.lastDenoised) denoised.set(s.lastDenoised, i * n);
    if (s instanceof TcdScheduler && s.lastNoisedSample) {
      noised.set(s.lastNoisedSample, i * n);
      timestepS.push(s.lastTimestepS);
    }
  }

  const got: Record<string, GotTensor> = {
    latents_per_step: { data: latents },
    denoised_per_step: { data: denoised },
    // x0 of each step: diffusers' pred_original_sample (the Euler / TCD cases' name for it).
    pred_original_sample_per_step: { data: denoised },
    pred_noised_sample_per_step: { data: noised },
    timestep_s: { data: timestepS },
    timesteps: { data: s.timesteps },
    scaled_inputs_scale: { data: scales },
    init_noise_sigma: { data: [s.initNoiseSigma] },
    alphas_cumprod: { data: s.alphasCumprod },
  };
  if (s.sigmas) got.sigmas = { data: s.sigmas };
  const results = compareOutputs(c, got);
  // The noise must be drawn exactly at the steps the reference drew it.
  const expDrawn = [...drawnAt].sort((a, b) => a - b).join(',');
  results.push({ name: 'noise_drawn_at_steps', maxAbsError: 0, pass: drawn.join(',') === expDrawn, detail: `drew at [${drawn}], expected [${expDrawn}]` });
  return results;
}

/** Python's str() of a float: 1.0 -> "1.0", 0.3 -> "0.3". */
function pyFloat(v: number): string {
  return Number.isInteger(v) ? v.toFixed(1) : String(v);
}

interface Img2ImgDetail {
  num_timesteps?: number;
  t_start?: number;
  init_noise_sigma_after_set_timesteps?: number;
}

export async function runSchedulerImg2ImgCase(c: FixtureCase): Promise<CheckResult[]> {
  const steps = Number(c.params.num_inference_steps);
  const strengths = c.params.strengths as number[];
  const base = record(c.config.base_config_sd15, 'config.base_config_sd15');
  const scheds = record(c.config.schedulers, 'config.schedulers');
  const details = (c.params.details ?? {}) as Record<string, Img2ImgDetail>;
  const got: Record<string, GotTensor> = {};
  const extra: CheckResult[] = [];
  for (const [key, rawSpec] of Object.entries(scheds)) {
    const spec = record(rawSpec, `config.schedulers.${key}`);
    const cls = String(spec.class_name);
    const overrides = record(spec.overrides ?? {}, `config.schedulers.${key}.overrides`);
    // The base SD1.5 config is a PNDM config: drop its class name, the scheduler's own defaults apply.
    const { _class_name: _drop, ...rest } = base;
    const { sampler, config } = fromDiffusersConfig({ ...rest, ...overrides }, cls);
    if (sampler !== (key as SamplerName)) throw new Error(`${key}: config maps to sampler ${sampler}`);
    for (const strength of strengths) {
      const s = createScheduler(sampler, steps, { config });
      const { startIndex, timesteps } = s.timestepsForStrength(strength);
      const name = `${key}.strength_${pyFloat(strength)}`;
      got[`${name}.timesteps`] = { data: timesteps };
      got[`${name}.add_noise_coeffs`] = { data: s.addNoiseCoeffs(startIndex) };
      const d = details[name];
      if (d?.t_start !== undefined) {
        extra.push({ name: `${name}.t_start`, maxAbsError: Math.abs(d.t_start - startIndex), pass: d.t_start === startIndex, detail: `got ${startIndex}, expected ${d.t_start}` });
      }
      if (d?.init_noise_sigma_after_set_timesteps !== undefined) {
        extra.push(compareTensor(`${name}.init_noise_sigma`, { data: [s.initNoiseSigma] }, [d.init_noise_sigma_after_set_timesteps], [1], c.tolerance));
      }
    }
  }
  return [...compareOutputs(c, got), ...extra];
}
