/**
 * Packs per-adapter image keys/values into the UNet's IP inputs: for every attn2 layer l,
 * ip_k.l / ip_v.l [B, A, T, C] (adapters padded to the longest token count), ip_bias [A, T]
 * masking the padding, and ip_scale [L, A]. Pure; allocation once per job.
 */

/** One adapter slot: keys/values per attn2 layer, each [B, T_a, C_l] flattened. */
export interface AdapterKv {
  readonly tokens: number;
  readonly k: readonly Float32Array[];
  readonly v: readonly Float32Array[];
}

export interface PackedIp {
  readonly adapters: number;
  readonly tokens: number;
  /** per layer: [B, A, T, C] */
  readonly k: Float32Array[];
  readonly v: Float32Array[];
  readonly kShape: Array<[number, number, number, number]>;
  /** [A, T]: 0 for real tokens, a large negative number for padding */
  readonly bias: Float32Array;
}

/** Large enough to zero a softmax term, small enough for fp16 (max 65504). */
export const PAD_BIAS = -1e4;

export function packIpInputs(slots: readonly AdapterKv[], layers: ReadonlyArray<{ readonly channels: number }>, batch: number): PackedIp {
  const A = Math.max(1, slots.length);
  const T = Math.max(1, ...slots.map((s) => s.tokens));
  const bias = new Float32Array(A * T).fill(PAD_BIAS);
  slots.forEach((s, a) => bias.fill(0, a * T, a * T + s.tokens));
  if (slots.length === 0) bias.fill(0); // one zero token with scale 0: the image term vanishes
  const k: Float32Array[] = [];
  const v: Float32Array[] = [];
  const kShape: Array<[number, number, number, number]> = [];
  layers.forEach(({ channels: C }, l) => {
    const kl = new Float32Array(batch * A * T * C);
    const vl = new Float32Array(batch * A * T * C);
    slots.forEach((s, a) => {
      const srcK = s.k[l];
      const srcV = s.v[l];
      if (srcK.length !== batch * s.tokens * C) throw new Error(`IP keys for layer ${l}: ${srcK.length} values, expected ${batch}x${s.tokens}x${C}`);
      for (let b = 0; b < batch; b++) {
        const from = b * s.tokens * C;
        const to = ((b * A + a) * T) * C;
        kl.set(srcK.subarray(from, from + s.tokens * C), to);
        vl.set(srcV.subarray(from, from + s.tokens * C), to);
      }
    });
    k.push(kl);
    v.push(vl);
    kShape.push([batch, A, T, C]);
  });
  return { adapters: A, tokens: T, k, v, kShape, bias };
}

/** ip_scale [L, A] for one step: each slot's per-layer scales, zero outside its step range. */
export function ipScaleMatrix(layerScales: ReadonlyArray<readonly number[]>, active: readonly boolean[], layers: number): Float32Array {
  const A = Math.max(1, layerScales.length);
  const m = new Float32Array(layers * A);
  layerScales.forEach((scales, a) => {
    if (!active[a]) return;
    for (let l = 0; l < layers; l++) m[l * A + a] = scales[l];
  });
  return m;
}
