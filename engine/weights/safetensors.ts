/**
 * Safetensors reader: validates the header and reads tensors lazily by byte range, so a 4 GB
 * checkpoint is never loaded whole. The graph builder only needs each tensor's file offset;
 * numeric code (parity, LoRA merge, fixtures) reads the bytes it needs.
 */
import { openSync, readSync, closeSync, fstatSync } from 'node:fs';

export type Dtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Record<Dtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export interface TensorInfo {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  /** Absolute byte offset of the tensor's data in the file. */
  readonly offset: number;
  readonly byteLength: number;
}

export class SafetensorsError extends Error {
  constructor(readonly file: string, readonly tensor: string | undefined, message: string) {
    super(`${file}${tensor ? ` (tensor "${tensor}")` : ''}: ${message}`);
    this.name = 'SafetensorsError';
  }
}

/** Header size cap: real files stay far below; protects against a garbage length field. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export class SafetensorsFile {
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
  readonly fileSize: number;

  private constructor(readonly path: string, tensors: Map<string, TensorInfo>, metadata: Record<string, string>, fileSize: number) {
    this.tensors = tensors;
    this.metadata = metadata;
    this.fileSize = fileSize;
  }

  static open(path: string): SafetensorsFile {
    const fd = openSync(path, 'r');
    try {
      const fileSize = fstatSync(fd).size;
      if (fileSize < 8) throw new SafetensorsError(path, undefined, `file is ${fileSize} bytes, too short for a safetensors header`);
      const lenBuf = Buffer.alloc(8);
      readSync(fd, lenBuf, 0, 8, 0);
      const headerLen = Number(lenBuf.readBigUInt64LE(0));
      if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > fileSize) {
        throw new SafetensorsError(path, undefined, `header length ${headerLen} exceeds the file size ${fileSize} (truncated or not a safetensors file)`);
      }
      const headerBuf = Buffer.alloc(headerLen);
      readSync(fd, headerBuf, 0, headerLen, 8);
      let header: unknown;
      try {
        header = JSON.parse(headerBuf.toString('utf8'));
      } catch (e) {
        throw new SafetensorsError(path, undefined, `header is not valid JSON (${(e as Error).message})`);
      }
      const { tensors, metadata } = parseHeader(path, header, 8 + headerLen, fileSize);
      return new SafetensorsFile(path, tensors, metadata, fileSize);
    } finally {
      closeSync(fd);
    }
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError(this.path, name, 'tensor not found');
    return t;
  }

  keys(): string[] {
    return [...this.tensors.keys()];
  }

  /** Raw bytes of one tensor (a fresh, aligned copy). */
  readBytes(name: string): Uint8Array {
    const t = this.info(name);
    return readRange(this.path, t.offset, t.byteLength);
  }

  /** Tensor converted to float32 (F32/F16/BF16/F64/int types). */
  readFloat32(name: string): Float32Array {
    const t = this.info(name);
    return toFloat32(this.readBytes(name), t.dtype);
  }

  readInt64(name: string): BigInt64Array {
    const t = this.info(name);
    if (t.dtype !== 'I64') throw new SafetensorsError(this.path, name, `expected I64, found ${t.dtype}`);
    return new BigInt64Array(this.readBytes(name).buffer);
  }

  readUint8(name: string): Uint8Array {
    const t = this.info(name);
    if (t.dtype !== 'U8') throw new SafetensorsError(this.path, name, `expected U8, found ${t.dtype}`);
    return this.readBytes(name);
  }
}

function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && s in DTYPE_BYTES;
}

function parseHeader(path: string, header: unknown, dataStart: number, fileSize: number) {
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SafetensorsError(path, undefined, 'header is not a JSON object');
  }
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  const ranges: Array<[number, number, string]> = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = (raw ?? {}) as Record<string, string>;
      continue;
    }
    const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isDtype(entry?.dtype)) throw new SafetensorsError(path, name, `unknown dtype ${JSON.stringify(entry?.dtype)}`);
    if (!Array.isArray(entry.shape) || !entry.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new SafetensorsError(path, name, `bad shape ${JSON.stringify(entry.shape)}`);
    }
    const offs = entry.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0) || offs[1] < offs[0]) {
      throw new SafetensorsError(path, name, `bad data_offsets ${JSON.stringify(offs)}`);
    }
    const shape = entry.shape as number[];
    const elements = shape.reduce((a, b) => a * b, 1);
    const byteLength = offs[1] - offs[0];
    if (byteLength !== elements * DTYPE_BYTES[entry.dtype]) {
      throw new SafetensorsError(path, name, `data_offsets span ${byteLength} bytes but ${entry.dtype}${JSON.stringify(shape)} needs ${elements * DTYPE_BYTES[entry.dtype]}`);
    }
    if (dataStart + offs[1] > fileSize) {
      throw new SafetensorsError(path, name, `data ends at byte ${dataStart + offs[1]} beyond the file size ${fileSize} (truncated file?)`);
    }
    ranges.push([offs[0], offs[1], name]);
    tensors.set(name, { name, dtype: entry.dtype, shape, offset: dataStart + offs[0], byteLength });
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i][0] < ranges[i - 1][1]) {
      throw new SafetensorsError(path, ranges[i][2], `data overlaps tensor "${ranges[i - 1][2]}"`);
    }
  }
  return { tensors, metadata };
}

export function toFloat32(bytes: Uint8Array, dtype: Dtype): Float32Array {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32':
      return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    case 'F16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(n);
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u32[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    case 'F64': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    }
    case 'I64': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = Number(view.getBigInt64(i * 8, true));
      return out;
    }
    case 'I32': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt32(i * 4, true);
      return out;
    }
    case 'I16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true);
      return out;
    }
    case 'I8': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt8(i);
      return out;
    }
    case 'U8':
    case 'BOOL':
      return Float32Array.from(bytes);
  }
}

/** Reads `length` bytes at `offset` of `file` into a fresh buffer. */
export function readRange(file: string, offset: number, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  const fd = openSync(file, 'r');
  try {
    let done = 0;
    while (done < length) {
      const n = readSync(fd, buf, done, length - done, offset + done);
      if (n === 0) throw new Error(`${file}: unexpected end of file at byte ${offset + done} (truncated?)`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return buf;
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

export function floatToHalf(v: number): number {
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  let exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (((x >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    let half = mant >> shift;
    if ((mant >> (shift - 1)) & 1 && (mant & ((1 << (shift - 1)) - 1) || half & 1)) half++;
    return sign | half;
  }
  let half = sign | (exp << 10) | (mant >> 13);
  if (mant & 0x1000 && (mant & 0xfff || half & 1)) half++;
  return half;
}

/** Writes a safetensors file (tests, fixtures generation, caches). */
export function encodeSafetensors(tensors: Record<string, { dtype: Dtype; shape: number[]; data: ArrayBufferView }>, metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const parts: Buffer[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    parts.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // keep tensor data 8-byte aligned
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([len, Buffer.from(json), ...parts]);
}
