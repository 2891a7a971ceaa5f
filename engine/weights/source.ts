/**
 * Where a graph's weights come from. Keys are canonical block paths (diffusers naming); a source
 * maps them onto tensors in the user's files (byte ranges, never copied) or onto tensors computed
 * in memory (LoRA merges).
 */
import { SafetensorsFile, readRange, toFloat32, type Dtype } from './safetensors.ts';

export type WeightBytes =
  | { readonly file: string; readonly offset: number; readonly byteLength: number }
  | { readonly bytes: Uint8Array };

export interface WeightTensor {
  readonly key: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly data: WeightBytes;
  /** Where it came from, for error messages ("model.safetensors: model.diffusion_model.x.weight"). */
  readonly origin: string;
}

export interface WeightSource {
  /** Human-readable description for errors, e.g. the file path. */
  readonly description: string;
  get(key: string): WeightTensor | undefined;
  keys(): string[];
}

export class MissingWeightError extends Error {
  constructor(readonly source: string, readonly key: string) {
    super(`${source}: missing tensor "${key}" — the file does not look like the model this role needs`);
    this.name = 'MissingWeightError';
  }
}

export function requireWeight(src: WeightSource, key: string): WeightTensor {
  const t = src.get(key);
  if (!t) throw new MissingWeightError(src.description, key);
  return t;
}

/** Where one tensor's bytes lie in its file: all a file-backed source needs to know of it. */
export interface StoredTensor {
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  /** Absolute byte offset in the file. */
  readonly offset: number;
  readonly byteLength: number;
}

/** The tensors of the file at `path` whose names start with `prefix` (prefix stripped), read as byte ranges of that file. */
export function storedTensorSource(path: string, tensors: ReadonlyMap<string, StoredTensor>, prefix = ''): WeightSource {
  const keys = [...tensors.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  return {
    description: path,
    keys: () => keys,
    get(key) {
      const name = prefix + key;
      const t = tensors.get(name);
      if (!t) return undefined;
      return { key, dtype: t.dtype, shape: t.shape, data: { file: path, offset: t.offset, byteLength: t.byteLength }, origin: `${path}: ${name}` };
    },
  };
}

/** All tensors of one safetensors file whose names start with `prefix` (prefix stripped). */
export function safetensorsSource(file: SafetensorsFile | string, prefix = ''): WeightSource {
  const f = typeof file === 'string' ? SafetensorsFile.open(file) : file;
  return storedTensorSource(f.path, f.tensors, prefix);
}

/** Renames keys: `map` goes canonical key -> source key (built once from a naming table). */
export function renamedSource(base: WeightSource, map: ReadonlyMap<string, string>, description = base.description): WeightSource {
  return {
    description,
    keys: () => [...map.keys()],
    get(key) {
      const src = map.get(key);
      const t = src === undefined ? undefined : base.get(src);
      return t && { ...t, key };
    },
  };
}

/** First source that has the key wins (in-memory overrides, then files). */
export function layeredSource(description: string, ...layers: WeightSource[]): WeightSource {
  return {
    description,
    keys: () => [...new Set(layers.flatMap((l) => l.keys()))],
    get(key) {
      for (const l of layers) {
        const t = l.get(key);
        if (t) return t;
      }
      return undefined;
    },
  };
}

/** Tensors held in memory (merged LoRA weights, generated test weights). */
export function memorySource(description: string, tensors: ReadonlyMap<string, { dtype: Dtype; shape: readonly number[]; bytes: Uint8Array }>): WeightSource {
  return {
    description,
    keys: () => [...tensors.keys()],
    get(key) {
      const t = tensors.get(key);
      return t && { key, dtype: t.dtype, shape: t.shape, data: { bytes: t.bytes }, origin: `${description}: ${key}` };
    },
  };
}

/** Reads a weight as float32 (for numeric work such as LoRA merges). */
export function readWeightFloat32(t: WeightTensor): Float32Array {
  const bytes = 'bytes' in t.data ? t.data.bytes : readRange(t.data.file, t.data.offset, t.data.byteLength);
  return toFloat32(bytes, t.dtype);
}

