/**
 * The training noise schedule and the small numeric helpers every sampler shares.
 *
 * diffusers builds the schedule in float32 torch/numpy; the integer timesteps of the Karras schedule are
 * rounded from values computed on that float32 table, so the table is emulated bit-for-bit here
 * (Math.fround at each float32 operation) and everything downstream runs in float64.
 */

export type BetaSchedule = 'scaled_linear' | 'linear';
export type TimestepSpacing = 'leading' | 'linspace' | 'trailing';

/** The subset of diffusers' scheduler config that SD1.5-family models use. */
export interface SchedulerConfig {
  readonly numTrainTimesteps: number;
  readonly betaStart: number;
  readonly betaEnd: number;
  readonly betaSchedule: BetaSchedule;
  readonly stepsOffset: number;
  /** Defaults per sampler when absent: leading for DDIM / LCM, linspace for the others (diffusers' SD1.5 configs). */
  readonly timestepSpacing?: TimestepSpacing;
  /** DDIM / LCM: alpha_cumprod used past the last step (false = alphas_cumprod[0], SD1.5). */
  readonly setAlphaToOne: boolean;
  /** LCM: the distillation schedule length (50) and the boundary-condition timestep scaling (10). */
  readonly originalInferenceSteps: number;
  readonly timestepScaling: number;
}

export const SD15_SCHEDULER_CONFIG: SchedulerConfig = {
  numTrainTimesteps: 1000,
  betaStart: 0.00085,
  betaEnd: 0.012,
  betaSchedule: 'scaled_linear',
  stepsOffset: 1,
  setAlphaToOne: false,
  originalInferenceSteps: 50,
  timestepScaling: 10,
};

const f32 = Math.fround;

/** torch.linspace(start, end, n, dtype=float32) as ATen's CPU kernel computes it (two halves meeting in the middle). */
export function linspaceF32(start: number, end: number, n: number): Float32Array {
  const out = new Float32Array(n);
  const s = f32(start);
  const e = f32(end);
  if (n === 1) {
    out[0] = s;
    return out;
  }
  const step = f32(f32(e - s) / (n - 1));
  const half = Math.floor(n / 2);
  for (let i = 0; i < n; i++) out[i] = i < half ? f32(s + f32(step * i)) : f32(e - f32(step * (n - 1 - i)));
  return out;
}

/** alphas_cumprod (float32, length numTrainTimesteps); torch's CPU cumprod accumulates in double. */
export function alphasCumprod(cfg: SchedulerConfig): Float32Array {
  const n = cfg.numTrainTimesteps;
  const betas = cfg.betaSchedule === 'scaled_linear'
    ? linspaceF32(Math.sqrt(cfg.betaStart), Math.sqrt(cfg.betaEnd), n).map((b) => f32(b * b))
    : linspaceF32(cfg.betaStart, cfg.betaEnd, n);
  const out = new Float32Array(n);
  let acc = 1;
  for (let i = 0; i < n; i++) {
    acc *= f32(1 - betas[i]);
    out[i] = acc;
  }
  return out;
}

/** Training sigmas sqrt((1 - a) / a) per timestep, float32 like diffusers' numpy copy. */
export function trainSigmas(ac: Float32Array): Float32Array {
  const out = new Float32Array(ac.length);
  for (let i = 0; i < ac.length; i++) out[i] = Math.sqrt(f32(f32(1 - ac[i]) / ac[i]));
  return out;
}

/** numpy's round (half to even). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; numpy rounds it to the even neighbour.
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** np.linspace(start, stop, n) (float64, endpoint included): start + i * ((stop - start) / (n - 1)). */
export function linspace(start: number, stop: number, n: number): number[] {
  if (n === 1) return [start];
  const step = (stop - start) / (n - 1);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(i * step + start);
  out[n - 1] = stop;
  return out;
}

/** np.interp(x, arange(len(fp)), fp) for x inside [0, len-1]. */
export function interpIndex(x: number, fp: ArrayLike<number>): number {
  if (x <= 0) return fp[0];
  const last = fp.length - 1;
  if (x >= last) return fp[last];
  const j = Math.floor(x);
  if (x === j) return fp[j];
  // Unit spacing of xp: the slope is the difference of neighbours (numpy's formula otherwise).
  return (fp[j + 1] - fp[j]) * (x - j) + fp[j];
}

/** Karras et al. (2022) rho = 7 sigma ramp from sigmaMax down to sigmaMin, n values. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number): number[] {
  const rho = 7;
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  return linspace(0, 1, n).map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/**
 * Fractional training timestep of a sigma by linear interpolation in log-sigma (diffusers' _sigma_to_t).
 * logSigmas is the float32 log of the training sigma table; the interpolation weight is float32 as numpy 1.x
 * computes it (a float32 array op a float64 scalar stays float32), which decides how Karras timesteps round.
 */
export function sigmaToT(sigma: number, logSigmas: Float32Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  let count = 0;
  while (count < logSigmas.length && logSigma - logSigmas[count] >= 0) count++;
  const low = Math.min(Math.max(count - 1, 0), logSigmas.length - 2);
  const lo = logSigmas[low];
  const hi = logSigmas[low + 1];
  let w = f32(f32(lo - logSigma) / f32(lo - hi));
  w = Math.min(Math.max(w, 0), 1);
  return f32(1 - w) * low + w * (low + 1);
}

/** VP-space (alpha_t, sigma_t) of a VE sigma: alpha = 1 / sqrt(sigma^2 + 1), sigma_t = sigma * alpha. */
export function alphaSigma(sigma: number): { alpha: number; sigmaT: number } {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  return { alpha, sigmaT: sigma * alpha };
}

/** log-SNR lambda = log(alpha) - log(sigma_t); +Infinity at sigma = 0 (the final step). */
export function lambdaOf(sigma: number): number {
  const { alpha, sigmaT } = alphaSigma(sigma);
  return Math.log(alpha) - Math.log(sigmaT);
}

/** `trailing` spacing: np.arange(T, 0, -T / steps).round() - 1 (numpy's element count, ceil(T / ratio)). */
export function trailingTimesteps(T: number, steps: number): number[] {
  const ratio = T / steps;
  const count = Math.ceil((0 - T) / -ratio);
  const out: number[] = [];
  for (let k = 0; k < count; k++) out.push(roundHalfEven(T + k * -ratio) - 1);
  return out;
}
