/**
 * Seeded standard-normal noise, identical across runs and machines (no Math.random, no platform RNG).
 *
 * Algorithm (so another implementation can reproduce it bit for bit, up to libm differences noted below):
 *
 * 1. Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011; Random123's
 *    philox4x32 with 10 rounds) maps a 128-bit counter and a 64-bit key to four 32-bit words.
 *    Round: (hi0, lo0) = M0 * c0, (hi1, lo1) = M1 * c2 (full 64-bit products);
 *           c = [hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0]; between rounds k0 += W0, k1 += W1 (mod 2^32).
 *    M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85.
 * 2. key = [seed mod 2^32, floor(seed / 2^32)] (seed: integer in [0, 2^64)).
 *    counter for pair p of stream s = [p mod 2^32, floor(p / 2^32), s, 0].
 * 3. Words [w0, w1, w2, w3] -> two 53-bit uniforms (float64):
 *    u1 = ((w0 >>> 5) * 2^26 + (w1 >>> 6) + 1) / 2^53   in (0, 1]
 *    u2 = ((w2 >>> 5) * 2^26 + (w3 >>> 6)) / 2^53       in [0, 1)
 * 4. Box–Muller in float64: r = sqrt(-2 ln u1), z0 = r cos(2 pi u2), z1 = r sin(2 pi u2); each rounded to float32.
 * 5. A tensor of N elements (row-major) takes elements 2p, 2p+1 from pair p = 0, 1, ...; an odd N drops the
 *    last z1. A stream read sequentially consumes ceil(n / 2) pairs per read of n values.
 *
 * Determinism: steps 1–3 are exact integer / float64 arithmetic. Step 4 uses ln, cos, sin: V8's (fdlibm-derived)
 * results are the same on every platform; another libm can differ in the last float64 bit, which changes the float32
 * result only in rare rounding ties.
 *
 * Streams: 0 = the initial latent noise, 1 = per-step noise of stochastic samplers (stepNoiseSource). Batches
 * use seed + i per image (A1111 convention), so image i of a batch regenerates alone from its own seed.
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const TWO_POW_26 = 67108864;
const TWO_POW_53 = 9007199254740992;
const TWO_POW_32 = 4294967296;

export type Seed = number | bigint;

/** High 32 bits of the 64-bit product of two uint32 (exact: every partial product is below 2^53). */
function mulhi(a: number, b: number): number {
  const aL = a & 0xffff;
  const aH = a >>> 16;
  const bL = b & 0xffff;
  const bH = b >>> 16;
  const lh = aL * bH;
  const hl = aH * bL;
  const mid = ((aL * bL) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (aH * bH + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 65536)) >>> 0;
}

/** Philox4x32-10 of one counter under one key into out[0..3]. */
export function philox4x32(counter: ArrayLike<number>, key: ArrayLike<number>, out: Uint32Array = new Uint32Array(4)): Uint32Array {
  let c0 = counter[0] >>> 0;
  let c1 = counter[1] >>> 0;
  let c2 = counter[2] >>> 0;
  let c3 = counter[3] >>> 0;
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
  return out;
}

/** Philox key of a seed: its low and high 32 bits. */
export function seedKey(seed: Seed): [number, number] {
  if (typeof seed === 'bigint') {
    if (seed < 0n || seed >= 1n << 64n) throw new RangeError(`seed must be in [0, 2^64), got ${seed}`);
    return [Number(seed & 0xffffffffn), Number(seed >> 32n)];
  }
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
  return [seed % TWO_POW_32, Math.floor(seed / TWO_POW_32)];
}

/** A sequential reader of one (seed, stream) noise sequence. */
export class GaussianStream {
  private readonly key: [number, number];
  private readonly words = new Uint32Array(4);
  private readonly ctr = [0, 0, 0, 0];
  /** Pairs consumed so far. */
  private pair = 0;

  constructor(seed: Seed, readonly stream = 0) {
    if (!Number.isInteger(stream) || stream < 0 || stream >= TWO_POW_32) throw new RangeError(`stream must be a uint32, got ${stream}`);
    this.key = seedKey(seed);
  }

  /** The next n standard-normal values. */
  next(n: number): Float32Array {
    return this.fill(new Float32Array(n));
  }

  /** Fills out with the next out.length values (ceil(length / 2) pairs). */
  fill(out: Float32Array): Float32Array {
    const w = this.words;
    const ctr = this.ctr;
    ctr[2] = this.stream;
    for (let k = 0; k < out.length; k += 2) {
      ctr[0] = this.pair % TWO_POW_32;
      ctr[1] = Math.floor(this.pair / TWO_POW_32);
      philox4x32(ctr, this.key, w);
      this.pair++;
      const u1 = ((w[0] >>> 5) * TWO_POW_26 + (w[1] >>> 6) + 1) / TWO_POW_53;
      const u2 = ((w[2] >>> 5) * TWO_POW_26 + (w[3] >>> 6)) / TWO_POW_53;
      const r = Math.sqrt(-2 * Math.log(u1));
      const theta = 2 * Math.PI * u2;
      out[k] = r * Math.cos(theta);
      if (k + 1 < out.length) out[k + 1] = r * Math.sin(theta);
    }
    return out;
  }
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`bad shape [${shape}]`);
    n *= d;
  }
  return n;
}

/** Standard-normal noise of a shape (row-major) from a seed: the first values of stream `stream`. */
export function noise(seed: Seed, shape: readonly number[], stream = 0): Float32Array {
  return new GaussianStream(seed, stream).next(numel(shape));
}

/** Per-step noise for stochastic samplers (Euler ancestral, LCM, DDIM eta > 0): stream 1 of the seed, read in order. */
export function stepNoiseSource(seed: Seed): (length: number) => Float32Array {
  const s = new GaussianStream(seed, 1);
  return (length) => s.next(length);
}

/**
 * Spherical interpolation between two noise tensors treated as single vectors: t = 0 gives a, t = 1 gives b.
 * Nearly parallel inputs (cos > 0.9995) fall back to linear interpolation.
 */
export function slerp(t: number, a: Float32Array, b: Float32Array, out: Float32Array = new Float32Array(a.length)): Float32Array {
  if (a.length !== b.length) throw new RangeError(`slerp: ${a.length} vs ${b.length} elements`);
  let aa = 0;
  let bb = 0;
  let ab = 0;
  for (let k = 0; k < a.length; k++) {
    aa += a[k] * a[k];
    bb += b[k] * b[k];
    ab += a[k] * b[k];
  }
  const dot = aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 1;
  let ca: number;
  let cb: number;
  if (dot > 0.9995) {
    ca = 1 - t;
    cb = t;
  } else {
    const omega = Math.acos(Math.max(-1, dot));
    const so = Math.sin(omega);
    ca = Math.sin((1 - t) * omega) / so;
    cb = Math.sin(t * omega) / so;
  }
  for (let k = 0; k < a.length; k++) out[k] = ca * a[k] + cb * b[k];
  return out;
}

/**
 * A1111-style seed variation: slerp(strength, noise(seed), noise(varSeed)). strength 0 is the seed's own noise,
 * 1 the variation seed's; small strengths give small variations of the same composition. (A1111 slerps per
 * row of a [C, H, W] tensor; here the whole tensor is one vector, which preserves its norm the same way.)
 */
export function variationNoise(seed: Seed, varSeed: Seed, strength: number, shape: readonly number[]): Float32Array {
  if (!(strength >= 0 && strength <= 1)) throw new RangeError(`variation strength must be in [0, 1], got ${strength}`);
  const base = noise(seed, shape);
  if (strength === 0) return base;
  return slerp(strength, base, noise(varSeed, shape));
}
