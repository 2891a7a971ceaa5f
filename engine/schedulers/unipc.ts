/**
 * UniPC (diffusers UniPCMultistepScheduler: bh2, order 2, predict_x0, lower_order_final, corrector on every
 * step but the first, final sigma 0). Step i first corrects the incoming sample with the new x0 (UniC, using
 * the order of the previous predictor), then predicts the next sample (UniP).
 */
import { BaseScheduler } from './base.ts';
import { multistepSchedule, predictX0 } from './dpm.ts';
import { alphaSigma, lambdaOf, type SchedulerConfig } from './schedule.ts';

/** The bh2 coefficients for one interval: h_phi_1 = expm1(-h), B_h = expm1(-h), b_1, b_2 (the R b system's b). */
function bh2(h: number): { hPhi1: number; bH: number; b1: number; b2: number } {
  const hh = -h;
  const hPhi1 = Math.expm1(hh);
  const bH = hPhi1;
  let hPhiK = hPhi1 / hh - 1;
  const b1 = hPhiK / bH;
  hPhiK = hPhiK / hh - 1 / 2;
  const b2 = (hPhiK * 2) / bH;
  return { hPhi1, bH, b1, b2 };
}

export class UniPcScheduler extends BaseScheduler {
  private readonly sig: Float32Array;
  private readonly lambdas: Float64Array;
  /** Three rotating x0 buffers: this step's, the previous step's (m1), the one before (m2). */
  private bufs: Float32Array[] = [];
  private m1: Float32Array | null = null;
  private m2: Float32Array | null = null;
  /** The (corrected) sample of the previous step, copied: the caller may reuse its arrays. */
  private last: Float32Array | null = null;
  private lastOrder = 0;
  private lowerOrderNums = 0;

  constructor(cfg: SchedulerConfig, steps: number) {
    const s = multistepSchedule(cfg, steps, false);
    super({ name: 'unipc', steps, config: cfg, timesteps: s.timesteps, sigmas: s.sigmas, alphasCumprod: s.ac, initNoiseSigma: 1, stochastic: false });
    this.sig = s.sigmas;
    this.lambdas = Float64Array.from(this.sig, lambdaOf);
  }

  addNoiseCoeffs(i: number): [number, number] {
    const { alpha, sigmaT } = alphaSigma(this.sig[Math.min(i, this.steps)]);
    return [alpha, sigmaT];
  }

  protected override resetHistory(): void {
    this.m1 = null;
    this.m2 = null;
    this.lastOrder = 0;
    this.lowerOrderNums = 0;
    this.last = null;
  }

  protected stepImpl(eps: Float32Array, i: number, x: Float32Array): Float32Array {
    const n = x.length;
    if (this.m1 !== null && this.m1.length !== n) this.resetHistory();
    const x0 = predictX0(eps, x, this.sig[i], this.freeBuffer(n));
    if (this.last === null || this.last.length !== n || this.m1 === null) {
      this.last = Float32Array.from(x);
    } else {
      this.correct(i, x, x0, this.last);
    }
    this.m2 = this.m1;
    this.m1 = x0;
    const order = Math.min(2, this.steps - i, this.lowerOrderNums + 1);
    this.lastOrder = order;
    const out = this.predict(i, this.last, order);
    if (this.lowerOrderNums < 2) this.lowerOrderNums++;
    this.lastDenoised = x0;
    return out;
  }

  /** UniC: corrects the sample of step i in place in `xPrev` (which holds step i-1's sample on entry). */
  private correct(i: number, x: Float32Array, modelT: Float32Array, xPrev: Float32Array): void {
    const m0 = this.m1!;
    const { alpha: aT, sigmaT: sT } = alphaSigma(this.sig[i]);
    const { sigmaT: sS } = alphaSigma(this.sig[i - 1]);
    const h = this.lambdas[i] - this.lambdas[i - 1];
    const { hPhi1, bH, b1, b2 } = bh2(h);
    const cx = sT / sS;
    const cm = -aT * hPhi1;
    const n = x.length;
    if (this.lastOrder === 2 && this.m2 !== null) {
      const m2 = this.m2;
      const rk = (this.lambdas[i - 2] - this.lambdas[i - 1]) / h;
      // Solve [[1, 1], [rk, 1]] rho = [b1, b2].
      const r0 = (b1 - b2) / (1 - rk);
      const r1 = b1 - r0;
      const c = -aT * bH;
      for (let k = 0; k < n; k++) {
        const d1 = (m2[k] - m0[k]) / rk;
        xPrev[k] = cx * xPrev[k] + cm * m0[k] + c * (r0 * d1 + r1 * (modelT[k] - m0[k]));
      }
    } else {
      const c = -aT * bH * 0.5;
      for (let k = 0; k < n; k++) xPrev[k] = cx * xPrev[k] + cm * m0[k] + c * (modelT[k] - m0[k]);
    }
  }

  /** UniP: the next sample from the (corrected) sample of step i. */
  private predict(i: number, x: Float32Array, order: number): Float32Array {
    const n = x.length;
    const out = new Float32Array(n);
    const m0 = this.m1!;
    const sNext = this.sig[i + 1];
    if (sNext === 0) {
      // Final step: alpha = 1, sigma = 0, h = inf, so the update lands on x0.
      out.set(m0);
      return out;
    }
    const { alpha: aT, sigmaT: sT } = alphaSigma(sNext);
    const { sigmaT: sS } = alphaSigma(this.sig[i]);
    const h = this.lambdas[i + 1] - this.lambdas[i];
    const { hPhi1, bH } = bh2(h);
    const cx = sT / sS;
    const cm = -aT * hPhi1;
    if (order === 2 && this.m2 !== null) {
      const m1 = this.m2;
      const rk = (this.lambdas[i - 1] - this.lambdas[i]) / h;
      // rho_p = 0.5 for order 2.
      const c = (-aT * bH * 0.5) / rk;
      for (let k = 0; k < n; k++) out[k] = cx * x[k] + cm * m0[k] + c * (m1[k] - m0[k]);
    } else {
      for (let k = 0; k < n; k++) out[k] = cx * x[k] + cm * m0[k];
    }
    return out;
  }

  private freeBuffer(n: number): Float32Array {
    if (this.bufs.length !== 3 || this.bufs[0].length !== n) this.bufs = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
    return this.bufs.find((b) => b !== this.m1 && b !== this.m2)!;
  }
}
