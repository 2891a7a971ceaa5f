/** DPM-Solver++ 2M (diffusers DPMSolverMultistepScheduler: dpmsolver++, order 2, midpoint, final sigma 0). */
import { BaseScheduler } from './base.ts';
import {
  alphaSigma, alphasCumprod, karrasSigmas, lambdaOf, linspace, roundHalfEven, sigmaToT, trailingTimesteps, trainSigmas,
  type SchedulerConfig,
} from './schedule.ts';

export interface VpSchedule {
  readonly timesteps: number[];
  /** steps + 1 float32 sigmas, last 0. */
  readonly sigmas: Float32Array;
  readonly ac: Float32Array;
}

/** Integer timesteps and sigmas shared by DPM-Solver and UniPC (diffusers' multistep set_timesteps). */
export function multistepSchedule(cfg: SchedulerConfig, steps: number, karras: boolean): VpSchedule {
  const T = cfg.numTrainTimesteps;
  const ac = alphasCumprod(cfg);
  const table = trainSigmas(ac);
  const spacing = cfg.timestepSpacing ?? 'linspace';
  let timesteps: number[];
  if (spacing === 'linspace') {
    timesteps = linspace(0, T - 1, steps + 1).map(roundHalfEven).reverse().slice(0, steps);
  } else if (spacing === 'leading') {
    const ratio = Math.floor(T / (steps + 1));
    timesteps = [];
    for (let k = steps; k >= 1; k--) timesteps.push(k * ratio + cfg.stepsOffset);
  } else {
    timesteps = trailingTimesteps(T, steps);
  }
  let sig: number[];
  if (karras) {
    const logSigmas = table.map(Math.log);
    sig = karrasSigmas(table[0], table[T - 1], steps);
    timesteps = sig.map((s) => roundHalfEven(sigmaToT(s, logSigmas)));
  } else {
    sig = timesteps.map((t) => table[t]);
  }
  const sigmas = new Float32Array(sig.length + 1);
  sigmas.set(sig);
  return { timesteps, sigmas, ac };
}

/** x0 = (x - sigma_t * eps) / alpha_t at VE sigma s, into out. */
export function predictX0(eps: Float32Array, x: Float32Array, s: number, out: Float32Array): Float32Array {
  const { alpha, sigmaT } = alphaSigma(s);
  for (let k = 0; k < x.length; k++) out[k] = (x[k] - sigmaT * eps[k]) / alpha;
  return out;
}

export class DpmSolverScheduler extends BaseScheduler {
  private readonly sig: Float32Array;
  /** Two x0 buffers used alternately: the current step's and the previous one's. */
  private bufs: [Float32Array | null, Float32Array | null] = [null, null];
  private prevX0: Float32Array | null = null;

  constructor(cfg: SchedulerConfig, steps: number, karras: boolean) {
    const s = multistepSchedule(cfg, steps, karras);
    super({ name: karras ? 'dpmpp-2m-karras' : 'dpmpp-2m', steps, config: cfg, timesteps: s.timesteps, sigmas: s.sigmas, alphasCumprod: s.ac, initNoiseSigma: 1, stochastic: false });
    this.sig = s.sigmas;
  }

  addNoiseCoeffs(i: number): [number, number] {
    const { alpha, sigmaT } = alphaSigma(this.sig[Math.min(i, this.steps)]);
    return [alpha, sigmaT];
  }

  protected override resetHistory(): void {
    this.prevX0 = null;
  }

  protected stepImpl(eps: Float32Array, i: number, x: Float32Array): Float32Array {
    const n = x.length;
    const x0 = this.freeBuffer(n);
    predictX0(eps, x, this.sig[i], x0);
    const out = new Float32Array(n);
    const sNext = this.sig[i + 1];
    // Last step (sigma 0) is first order and lands on x0; the first step of a run has no history.
    if (sNext === 0) {
      out.set(x0);
    } else {
      const { alpha: aT, sigmaT: sT } = alphaSigma(sNext);
      const { sigmaT: sS } = alphaSigma(this.sig[i]);
      const h = lambdaOf(sNext) - lambdaOf(this.sig[i]);
      const cx = sT / sS;
      const cd = -aT * Math.expm1(-h);
      const prev = this.prevX0 !== null && this.prevX0.length === n ? this.prevX0 : null;
      if (prev === null) {
        for (let k = 0; k < n; k++) out[k] = cx * x[k] + cd * x0[k];
      } else {
        // Midpoint 2nd order: D = m0 + 0.5 * (m0 - m1) / r0, r0 = h_prev / h.
        const r0 = (lambdaOf(this.sig[i]) - lambdaOf(this.sig[i - 1])) / h;
        const c1 = 0.5 / r0;
        for (let k = 0; k < n; k++) out[k] = cx * x[k] + cd * (x0[k] + c1 * (x0[k] - prev[k]));
      }
    }
    this.prevX0 = x0;
    this.lastDenoised = x0;
    return out;
  }

  /** The buffer not holding the previous x0. */
  private freeBuffer(n: number): Float32Array {
    for (let k = 0; k < 2; k++) {
      const b = this.bufs[k];
      if (b === null || b.length !== n) this.bufs[k] = new Float32Array(n);
    }
    return this.bufs[0] === this.prevX0 ? this.bufs[1]! : this.bufs[0]!;
  }
}
