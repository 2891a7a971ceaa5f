/**
 * SDXL's two text encoders inside a single-file checkpoint, keyed as Hugging Face CLIP
 * (`text_model.*`, `text_projection.weight`), the names the text encoder graph builds from:
 *
 *  - `conditioner.embedders.0.transformer.text_model.*`: CLIP-L, already in HF naming.
 *  - `conditioner.embedders.1.model.*`: OpenCLIP ViT-bigG, in OpenCLIP naming: `token_embedding`,
 *    `positional_embedding`, `transformer.resblocks.N.{ln_1, attn.in_proj_weight/bias, attn.out_proj,
 *    ln_2, mlp.c_fc, mlp.c_proj}`, `ln_final`, `text_projection`.
 *
 * OpenCLIP stacks q, k and v in one `in_proj_weight` [3h, h] / `in_proj_bias` [3h]; each third is
 * a contiguous run of rows, so q/k/v are byte sub-ranges of the file (never copied).
 * `text_projection` [h, p] is applied as `x @ P`; HF's `text_projection.weight` is P^T [p, h]: this
 * one matrix (≤ 1280², 3 MB in fp16) is transposed in memory, which no byte view can do.
 */
import { SafetensorsFile, DTYPE_BYTES, readRange } from './safetensors.ts';
import { ldmTextMap, mappedSource, WeightNamingError } from './names.ts';
import { safetensorsSource, type WeightBytes, type WeightSource, type WeightTensor } from './source.ts';

/** Key prefixes of the two text encoders in a single-file SDXL checkpoint. */
export const SDXL_TEXT_PREFIX = {
  clipL: 'conditioner.embedders.0.transformer.',
  openClipG: 'conditioner.embedders.1.model.',
} as const;

/** OpenCLIP tensors the text encoder does not use (the contrastive temperature). */
const IGNORED = new Set(['logit_scale']);

/** One canonical tensor: which OpenCLIP tensor, and which third of its rows for the stacked q/k/v. */
interface OpenClipEntry {
  readonly source: string;
  /** 0 = q, 1 = k, 2 = v of a stacked in_proj tensor. */
  readonly third?: 0 | 1 | 2;
  readonly transpose?: boolean;
}

const RESBLOCK_PARTS: ReadonlyArray<readonly [string, string]> = [
  ['ln_1.', 'layer_norm1.'],
  ['attn.out_proj.', 'self_attn.out_proj.'],
  ['ln_2.', 'layer_norm2.'],
  ['mlp.c_fc.', 'mlp.fc1.'],
  ['mlp.c_proj.', 'mlp.fc2.'],
];
const QKV = ['q_proj', 'k_proj', 'v_proj'] as const;

/**
 * Canonical HF key -> OpenCLIP tensor, for the keys under `prefix`. Every key must be understood:
 * an unknown one is an error naming the file and the key.
 */
export function openClipTextMap(keys: readonly string[], prefix: string, file = '<keys>'): Map<string, OpenClipEntry> {
  const map = new Map<string, OpenClipEntry>();
  const unknown: string[] = [];
  const add = (canonical: string, e: OpenClipEntry) => map.set(canonical, e);
  for (const full of keys) {
    if (!full.startsWith(prefix)) continue;
    const k = full.slice(prefix.length);
    if (IGNORED.has(k)) continue;
    if (k === 'token_embedding.weight') add('text_model.embeddings.token_embedding.weight', { source: full });
    else if (k === 'positional_embedding') add('text_model.embeddings.position_embedding.weight', { source: full });
    else if (k.startsWith('ln_final.')) add(`text_model.final_layer_norm.${k.slice('ln_final.'.length)}`, { source: full });
    else if (k === 'text_projection') add('text_projection.weight', { source: full, transpose: true });
    else {
      const m = /^transformer\.resblocks\.(\d+)\.(.+)$/.exec(k);
      const layer = m ? `text_model.encoder.layers.${m[1]}` : '';
      const rest = m?.[2] ?? '';
      const part = RESBLOCK_PARTS.find(([from]) => rest.startsWith(from));
      const stacked = /^attn\.in_proj_(weight|bias)$/.exec(rest);
      if (m && part) add(`${layer}.${part[1]}${rest.slice(part[0].length)}`, { source: full });
      else if (m && stacked) QKV.forEach((p, i) => add(`${layer}.self_attn.${p}.${stacked[1]}`, { source: full, third: i as 0 | 1 | 2 }));
      else unknown.push(full);
    }
  }
  if (unknown.length) {
    const list = unknown.slice(0, 5).map((k) => `"${k}"`).join(', ');
    throw new WeightNamingError(file, `${unknown.length} tensor(s) not understood as part of an OpenCLIP text encoder: ${list}${unknown.length > 5 ? ', …' : ''}`);
  }
  if (!map.has('text_model.embeddings.token_embedding.weight')) throw new WeightNamingError(file, `no OpenCLIP text encoder under "${prefix}" (no "${prefix}token_embedding.weight")`);
  return map;
}

/** Rows [from, from + rows) of a row-major tensor's bytes: a sub-range, no copy for file data. */
function rowRange(data: WeightBytes, rowBytes: number, from: number, rows: number): WeightBytes {
  const start = from * rowBytes;
  const length = rows * rowBytes;
  return 'bytes' in data ? { bytes: data.bytes.subarray(start, start + length) } : { file: data.file, offset: data.offset + start, byteLength: length };
}

/** A 2-D tensor's bytes transposed, element by element (any dtype: elements are moved, not converted). */
export function transposeBytes(bytes: Uint8Array, rows: number, cols: number, elementBytes: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const from = (r * cols + c) * elementBytes;
      out.set(bytes.subarray(from, from + elementBytes), (c * rows + r) * elementBytes);
    }
  }
  return out;
}

function readBytes(data: WeightBytes): Uint8Array {
  return 'bytes' in data ? data.bytes : readRange(data.file, data.offset, data.byteLength);
}

/** One canonical tensor from its OpenCLIP source. */
function openClipTensor(key: string, e: OpenClipEntry, t: WeightTensor): WeightTensor {
  const size = DTYPE_BYTES[t.dtype];
  if (e.third !== undefined) {
    const [stackedRows, ...rest] = t.shape;
    if (stackedRows % 3 !== 0) throw new Error(`${t.origin}: stacked q/k/v has ${stackedRows} rows, not a multiple of 3`);
    const rows = stackedRows / 3;
    const rowBytes = rest.reduce((a, b) => a * b, 1) * size;
    return { ...t, key, shape: [rows, ...rest], data: rowRange(t.data, rowBytes, e.third * rows, rows), origin: `${t.origin} (${QKV[e.third].slice(0, 1)} third)` };
  }
  if (e.transpose) {
    if (t.shape.length !== 2) throw new Error(`${t.origin}: text_projection must be 2-D, it is [${t.shape}]`);
    const [rows, cols] = t.shape;
    return { ...t, key, shape: [cols, rows], data: { bytes: transposeBytes(readBytes(t.data), rows, cols, size) }, origin: `${t.origin} (transposed)` };
  }
  return { ...t, key };
}

/** An OpenCLIP text encoder under `prefix` of `base`, keyed as HF CLIPTextModelWithProjection. */
export function openClipTextSource(base: WeightSource, prefix: string, description = `${base.description} [OpenCLIP text encoder]`): WeightSource {
  const map = openClipTextMap(base.keys(), prefix, base.description);
  const cache = new Map<string, WeightTensor>();
  return {
    description,
    keys: () => [...map.keys()],
    get(key) {
      const hit = cache.get(key);
      if (hit) return hit;
      const e = map.get(key);
      const t = e && base.get(e.source);
      if (!e || !t) return undefined;
      const out = openClipTensor(key, e, t);
      cache.set(key, out);
      return out;
    },
  };
}

function shapesOf(f: SafetensorsFile): Map<string, readonly number[]> {
  return new Map([...f.tensors].map(([k, info]) => [k, info.shape]));
}

/** A single-file SDXL checkpoint holds both text encoders under `conditioner.embedders.{0,1}.`. */
export function isSdxlSingleFile(keys: readonly string[]): boolean {
  return keys.some((k) => k.startsWith(SDXL_TEXT_PREFIX.clipL)) && keys.some((k) => k.startsWith(SDXL_TEXT_PREFIX.openClipG));
}

/** CLIP-L (`text_encoder`) of a single-file SDXL checkpoint, keyed `text_model.*`. */
export function sdxlClipLSource(file: SafetensorsFile | string): WeightSource {
  const f = typeof file === 'string' ? SafetensorsFile.open(file) : file;
  return mappedSource(safetensorsSource(f), ldmTextMap(shapesOf(f), SDXL_TEXT_PREFIX.clipL, f.path), `${f.path} [SDXL text encoder 1, CLIP-L]`);
}

/** OpenCLIP bigG (`text_encoder_2`) of a single-file SDXL checkpoint, keyed `text_model.*` + `text_projection.weight`. */
export function sdxlOpenClipGSource(file: SafetensorsFile | string): WeightSource {
  const f = typeof file === 'string' ? SafetensorsFile.open(file) : file;
  return openClipTextSource(safetensorsSource(f), SDXL_TEXT_PREFIX.openClipG, `${f.path} [SDXL text encoder 2, OpenCLIP bigG]`);
}
