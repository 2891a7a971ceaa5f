/** Small pure helpers on flat float tensors the pipeline needs between sessions. */

/** eps = u + g * (c - u) for a batch laid out [uncond..., cond...]. */
export function guidance(batched: Float32Array, scale: number): Float32Array {
  const n = batched.length / 2;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = batched[i];
    out[i] = u + scale * (batched[n + i] - u);
  }
  return out;
}

/** [x, x] along the batch axis (CFG runs uncond and cond on the same latents). */
export function duplicate(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length * 2);
  out.set(x);
  out.set(x, x.length);
  return out;
}

export function concat(...parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function scaled(x: Float32Array, s: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] * s;
  return out;
}

/** a += b */
export function addInto(a: Float32Array, b: Float32Array): void {
  for (let i = 0; i < a.length; i++) a[i] += b[i];
}

/** out = m * a + (1 - m) * b, with m [h*w] broadcast over `channels` planes. */
export function blendByMask(a: Float32Array, b: Float32Array, mask: Float32Array, channels: number): Float32Array {
  const hw = mask.length;
  const out = new Float32Array(a.length);
  for (let c = 0; c < channels; c++) {
    const o = c * hw;
    for (let i = 0; i < hw; i++) {
      const m = mask[i];
      out[o + i] = m * a[o + i] + (1 - m) * b[o + i];
    }
  }
  return out;
}

/** RGBA8 -> planar [1, 3, h, w] with values mapped by `map` (e.g. v/255, v/127.5 - 1). */
export function rgbaToPlanar(data: Uint8Array, width: number, height: number, map: (v: number) => number): Float32Array {
  const hw = width * height;
  const out = new Float32Array(3 * hw);
  for (let i = 0; i < hw; i++) {
    out[i] = map(data[i * 4]);
    out[hw + i] = map(data[i * 4 + 1]);
    out[2 * hw + i] = map(data[i * 4 + 2]);
  }
  return out;
}

/** Bilinear resize of an RGBA8 image (control images arriving at another size than the job). */
export function resizeRgba(data: Uint8Array, w: number, h: number, W: number, H: number): Uint8Array {
  if (w === W && h === H) return data;
  const out = new Uint8Array(W * H * 4);
  const sx = w / W;
  const sy = h / H;
  for (let y = 0; y < H; y++) {
    const fy = Math.max(0, (y + 0.5) * sy - 0.5);
    const y0 = Math.min(h - 1, Math.floor(fy));
    const y1 = Math.min(h - 1, y0 + 1);
    const wy = fy - y0;
    for (let x = 0; x < W; x++) {
      const fx = Math.max(0, (x + 0.5) * sx - 0.5);
      const x0 = Math.min(w - 1, Math.floor(fx));
      const x1 = Math.min(w - 1, x0 + 1);
      const wx = fx - x0;
      for (let c = 0; c < 4; c++) {
        const a = data[(y0 * w + x0) * 4 + c] * (1 - wx) + data[(y0 * w + x1) * 4 + c] * wx;
        const b = data[(y1 * w + x0) * 4 + c] * (1 - wx) + data[(y1 * w + x1) * 4 + c] * wx;
        out[(y * W + x) * 4 + c] = Math.round(a * (1 - wy) + b * wy);
      }
    }
  }
  return out;
}

/** Area-average downscale of an 8-bit mask to the latent grid, as [0, 1] floats. */
export function maskToLatent(mask: Uint8Array, width: number, height: number, factor: number): Float32Array {
  const w = Math.ceil(width / factor);
  const h = Math.ceil(height / factor);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let sum = 0;
      let n = 0;
      for (let yy = y * factor; yy < Math.min(height, (y + 1) * factor); yy++) {
        for (let xx = x * factor; xx < Math.min(width, (x + 1) * factor); xx++) {
          sum += mask[yy * width + xx];
          n++;
        }
      }
      out[y * w + x] = n ? sum / (255 * n) : 0;
    }
  }
  return out;
}
