/**
 * Writes random-weight safetensors files from specs, streaming tensor by tensor so a 3.4 GB
 * full-size UNet never sits in memory. Values: N(0, 1/fan_in) for weights (keeps activations in
 * range through 100+ layers), ones/zeros for norms and biases, a fixed seed per file.
 */
import { closeSync, openSync, renameSync, writeSync } from 'node:fs';
import { floatToHalf } from '../weights/safetensors.ts';
import type { TensorSpec } from './specs.ts';

/** xorshift128+ → uniform → Box–Muller; deterministic for a seed. */
function gaussian(seed: number): () => number {
  let s0 = (seed * 2654435761) >>> 0 || 1;
  let s1 = 0x9e3779b9 ^ seed;
  let spare: number | undefined;
  const next = () => {
    let x = s0;
    const y = s1;
    s0 = y;
    x ^= x << 23;
    x ^= x >>> 17;
    x ^= y ^ (y >>> 26);
    s1 = x >>> 0;
    return ((s0 + s1) >>> 0) / 4294967296;
  };
  return () => {
    if (spare !== undefined) {
      const v = spare;
      spare = undefined;
      return v;
    }
    const u = Math.max(next(), 1e-12);
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

export const elementCount = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Inputs per output of a weight (all dimensions but the first); the scale of its N(0, 1/fan_in) values. */
export const fanIn = (shape: readonly number[]): number => (shape.length > 1 ? elementCount(shape.slice(1)) : 1);

const bytesPerValue = (dtype: 'F32' | 'F16'): number => (dtype === 'F32' ? 4 : 2);

/**
 * Writes a safetensors file whose tensors lie back to back in spec order: the header, then `writeData`
 * (which must write every tensor's bytes, in that order) into the open file. Written to `path.tmp` and
 * renamed, so a file at `path` is always complete. Returns the file's size in bytes.
 */
export function writeSafetensorsFile(path: string, specs: readonly TensorSpec[], dtype: 'F32' | 'F16', metadata: Record<string, string>, writeData: (fd: number) => void): number {
  const bytesPer = bytesPerValue(dtype);
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const s of specs) {
    const n = elementCount(s.shape);
    header[s.name] = { dtype, shape: s.shape, data_offsets: [offset, offset + n * bytesPer] };
    offset += n * bytesPer;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    writeSync(fd, len);
    writeSync(fd, Buffer.from(json));
    writeData(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  return 8 + Buffer.byteLength(json) + offset;
}

export function writeSynthetic(path: string, specs: readonly TensorSpec[], opts: { dtype?: 'F32' | 'F16'; seed?: number; metadata?: Record<string, string> } = {}): number {
  const dtype = opts.dtype ?? 'F32';
  const metadata = { format: 'pt', generator: 'ipa-bridge synthetic', ...opts.metadata };
  return writeSafetensorsFile(path, specs, dtype, metadata, (fd) => {
    const rand = gaussian(opts.seed ?? 1);
    for (const s of specs) {
      const n = elementCount(s.shape);
      const std = 1 / Math.sqrt(fanIn(s.shape));
      const chunk = 1 << 20;
      for (let start = 0; start < n; start += chunk) {
        const m = Math.min(chunk, n - start);
        const f = new Float32Array(m);
        for (let i = 0; i < m; i++) {
          f[i] = s.init === 'ones' ? 1 : s.init === 'zeros' ? 0 : rand() * std;
        }
        const buf = dtype === 'F32' ? Buffer.from(f.buffer) : Buffer.from(Uint16Array.from(f, floatToHalf).buffer);
        writeSync(fd, buf);
      }
    }
  });
}
