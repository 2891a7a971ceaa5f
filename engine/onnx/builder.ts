/**
 * Builds ONNX graphs in TypeScript. Weights are initializers whose data is a byte range of the
 * user's own .safetensors (external data, no copy); dtype changes are Cast nodes that
 * onnxruntime folds when the session is created. Node names carry the checkpoint key path of the
 * block that made them, so a graph reads like the model it mirrors.
 */
import { TensorType, encodeModel, type AttrValue, type Dim, type NodeDef, type TensorData, type ValueInfo } from './proto.ts';
import { requireWeight, type WeightSource, type WeightTensor } from '../weights/source.ts';
import type { Dtype } from '../weights/safetensors.ts';
import type { Flavour } from '../runtime/providers.ts';

export { TensorType };
export type { Dim, Flavour };

/** Flavours that compute in fp16 (graph I/O stays fp32). */
export const isFp16Flavour = (f: Flavour): boolean => f === 'cuda' || f === 'portable-fp16' || f === 'webgpu-fp16';

/** Flavours restricted to standard ONNX ops (WebGPU, CoreML, DirectML): no com.microsoft domain. */
export const isPortableFlavour = (f: Flavour): boolean => f === 'portable' || f === 'portable-fp16' || f === 'webgpu' || f === 'webgpu-fp16';

/** Flavours that compute long self-attention in query slices (WebGPU's per-shader buffer limits). */
export const slicesAttention = (f: Flavour): boolean => f === 'webgpu' || f === 'webgpu-fp16';

export type Attr = number | string | readonly number[] | FloatAttr | FloatsAttr | AttrValue;
class FloatAttr { constructor(readonly value: number) {} }
class FloatsAttr { constructor(readonly value: readonly number[]) {} }
/** Marks a float attribute (plain numbers are ints). */
export const float = (v: number): FloatAttr => new FloatAttr(v);
export const floats = (v: readonly number[]): FloatsAttr => new FloatsAttr(v);

const ST_TO_ONNX: Record<Dtype, TensorType> = {
  F32: TensorType.FLOAT, F16: TensorType.FLOAT16, BF16: TensorType.BFLOAT16, F64: TensorType.DOUBLE,
  I64: TensorType.INT64, I32: TensorType.INT32, I16: TensorType.INT32, I8: TensorType.INT8, U8: TensorType.UINT8, BOOL: TensorType.BOOL,
};

export interface ExternalFile {
  readonly location: string;
  readonly path: string;
}

export interface ExternalMemory {
  readonly location: string;
  readonly bytes: Uint8Array;
}

export interface BuiltGraph {
  readonly name: string;
  readonly model: Uint8Array;
  /** Weight files referenced by location (relative to the .onnx). */
  readonly files: readonly ExternalFile[];
  /** In-memory external data (LoRA-merged tensors), passed to onnxruntime as externalData. */
  readonly memory: readonly ExternalMemory[];
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  /** The distinct (domain, op type) pairs of the graph's nodes, for operator-support checks. */
  readonly ops: ReadonlyArray<{ readonly domain: string; readonly opType: string }>;
}

/** Tensor data small enough to inline in the protobuf (constants, schedules). */
export type ConstData = Float32Array | BigInt64Array | Int32Array | Uint16Array;

/** Inline initializers above this size go to the in-memory external blob instead. */
const INLINE_LIMIT = 1 << 20;

export class GraphBuilder {
  readonly computeType: TensorType;
  private readonly nodes: NodeDef[] = [];
  private readonly initializers: TensorData[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly scopes: string[] = [];
  private readonly files = new Map<string, string>(); // path -> location
  private readonly memChunks: Uint8Array[] = [];
  private memBytes = 0;
  private readonly weightCache = new Map<string, string>();
  private readonly constCache = new Map<string, string>();
  private readonly usedNames = new Set<string>();
  private counter = 0;

  constructor(readonly name: string, readonly flavour: Flavour) {
    this.computeType = isFp16Flavour(flavour) ? TensorType.FLOAT16 : TensorType.FLOAT;
  }

  /** Standard ONNX ops only (see isPortableFlavour). */
  get portable(): boolean {
    return isPortableFlavour(this.flavour);
  }

  /**
   * Runs `fn` with node names prefixed by `path`, the full checkpoint key path of the block
   * (e.g. "down_blocks.0.resnets.1"); scopes do not nest, the innermost path names the node.
   */
  scope<T>(path: string, fn: () => T): T {
    this.scopes.push(path);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  private fresh(hint: string): string {
    const scope = this.scopes[this.scopes.length - 1];
    const base = scope ? `${scope}.${hint}` : hint;
    let name = base;
    while (this.usedNames.has(name)) name = `${base}_${++this.counter}`;
    this.usedNames.add(name);
    return name;
  }

  input(name: string, type: TensorType, dims: readonly Dim[]): string {
    this.usedNames.add(name);
    this.inputs.push({ name, type, dims });
    return name;
  }

  /**
   * A float32 graph input, returned in the compute type: graph I/O is float32 in every flavour
   * (the fp16 flavours cast inside), so callers never convert tensors.
   */
  floatInput(name: string, dims: readonly Dim[]): string {
    const x = this.input(name, TensorType.FLOAT, dims);
    return this.computeType === TensorType.FLOAT ? x : this.op('Cast', [x], { to: this.computeType });
  }

  /** `value` (compute type) as a float32 graph output. */
  floatOutput(name: string, value: string, dims: readonly Dim[]): void {
    const v = this.computeType === TensorType.FLOAT ? value : this.op('Cast', [value], { to: TensorType.FLOAT });
    this.output(name, v, TensorType.FLOAT, dims);
  }

  /** Declares `value` as a graph output named `name` (an Identity if the names differ). */
  output(name: string, value: string, type: TensorType, dims: readonly Dim[]): void {
    if (value !== name) {
      this.usedNames.add(name);
      this.nodes.push({ opType: 'Identity', domain: '', name: `${name}_out`, inputs: [value], outputs: [name], attrs: {} });
    }
    this.outputs.push({ name, type, dims });
  }

  /** One node with one output. */
  op(opType: string, inputs: readonly string[], attrs: Readonly<Record<string, Attr>> = {}, domain = ''): string {
    return this.opN(opType, inputs, 1, attrs, domain)[0];
  }

  opN(opType: string, inputs: readonly string[], outputs: number, attrs: Readonly<Record<string, Attr>> = {}, domain = ''): string[] {
    if (domain && this.portable) throw new Error(`${this.name}: ${domain}.${opType} in the ${this.flavour} flavour (standard ONNX ops only)`);
    const name = this.fresh(opType);
    const outs = Array.from({ length: outputs }, (_, i) => (outputs === 1 ? name : this.fresh(`${opType}_out${i}`)));
    const a: Record<string, AttrValue> = {};
    for (const [k, v] of Object.entries(attrs)) a[k] = toAttr(v);
    this.nodes.push({ opType, domain, name, inputs, outputs: outs, attrs: a });
    return outs;
  }

  /** An inline constant (deduplicated by content). */
  const(data: ConstData, dims: readonly number[], hint = 'const'): string {
    const type = data instanceof Float32Array ? TensorType.FLOAT : data instanceof BigInt64Array ? TensorType.INT64 : data instanceof Int32Array ? TensorType.INT32 : TensorType.FLOAT16;
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const key = data.byteLength <= 256 ? `${type}|${dims}|${Buffer.from(raw).toString('hex')}` : '';
    if (key) {
      const hit = this.constCache.get(key);
      if (hit) return hit;
    }
    const name = this.fresh(hint);
    this.addTensor(name, type, dims, raw.slice());
    if (key) this.constCache.set(key, name);
    return name;
  }

  ints(values: readonly number[]): string {
    return this.const(BigInt64Array.from(values, (v) => BigInt(v)), [values.length], 'ints');
  }

  /** A float scalar in the compute type. */
  scalar(v: number): string {
    const c = this.const(new Float32Array([v]), [], 'scalar');
    return this.computeType === TensorType.FLOAT ? c : this.castConst(c);
  }

  private castConst(name: string): string {
    const key = `cast|${name}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const out = this.op('Cast', [name], { to: this.computeType });
    this.constCache.set(key, out);
    return out;
  }

  /** A float tensor constant in the compute type. */
  floatConst(data: Float32Array, dims: readonly number[], hint = 'const'): string {
    const c = this.const(data, dims, hint);
    return this.computeType === TensorType.FLOAT ? c : this.castConst(c);
  }

  private addTensor(name: string, type: TensorType, dims: readonly number[], bytes: Uint8Array): void {
    if (bytes.byteLength <= INLINE_LIMIT) {
      this.initializers.push({ name, type, dims, raw: bytes });
      return;
    }
    const pad = (64 - (this.memBytes % 64)) % 64; // keep in-memory tensors 64-byte aligned
    if (pad) this.memChunks.push(new Uint8Array(pad));
    const offset = this.memBytes + pad;
    this.memChunks.push(bytes);
    this.memBytes = offset + bytes.byteLength;
    this.initializers.push({ name, type, dims, location: MEMORY_LOCATION, offset, length: bytes.byteLength });
  }

  /**
   * A weight from `src` as an initializer in the compute type. `dims` may reshape it (same element
   * count): external data is raw bytes, so a [C,C,1,1] conv kernel can be read as a [C,C] matrix.
   */
  weight(src: WeightSource, key: string, dims?: readonly number[]): string {
    const t = requireWeight(src, key);
    const shape = dims ?? t.shape;
    const cacheKey = `${t.origin}|${shape}`;
    const hit = this.weightCache.get(cacheKey);
    if (hit) return hit;
    if (shape.reduce((a, b) => a * b, 1) !== t.shape.reduce((a, b) => a * b, 1)) {
      throw new Error(`${t.origin}: cannot view shape [${t.shape}] as [${shape}]`);
    }
    const name = this.initializerFor(t, key, shape);
    const type = ST_TO_ONNX[t.dtype];
    const isFloat = type === TensorType.FLOAT || type === TensorType.FLOAT16 || type === TensorType.BFLOAT16 || type === TensorType.DOUBLE;
    const out = isFloat && type !== this.computeType ? this.op('Cast', [name], { to: this.computeType }) : name;
    this.weightCache.set(cacheKey, out);
    return out;
  }

  /** Shape of a weight as stored (shapes come from the tensors, never hard-coded). */
  shapeOf(src: WeightSource, key: string): readonly number[] {
    return requireWeight(src, key).shape;
  }

  private initializerFor(t: WeightTensor, key: string, dims: readonly number[]): string {
    const name = this.fresh(key);
    const type = ST_TO_ONNX[t.dtype];
    if ('bytes' in t.data) {
      this.addTensor(name, type, dims, t.data.bytes);
    } else {
      let location = this.files.get(t.data.file);
      if (!location) {
        location = `weights${this.files.size}.safetensors`;
        this.files.set(t.data.file, location);
      }
      this.initializers.push({ name, type, dims, location, offset: t.data.offset, length: t.data.byteLength });
    }
    return name;
  }

  build(docString?: string): BuiltGraph {
    const memory: ExternalMemory[] = [];
    if (this.memBytes > 0) {
      const blob = new Uint8Array(this.memBytes);
      let o = 0;
      for (const c of this.memChunks) {
        blob.set(c, o);
        o += c.byteLength;
      }
      memory.push({ location: MEMORY_LOCATION, bytes: blob });
    }
    const model = encodeModel({
      graphName: this.name,
      nodes: this.nodes,
      initializers: this.initializers,
      inputs: this.inputs,
      outputs: this.outputs,
      // Portable graphs import no com.microsoft opset: CoreML / DirectML / WebGPU see only ai.onnx.
      opsets: this.portable ? [{ domain: '', version: 17 }] : [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
      producer: 'ipa-bridge',
      docString,
    });
    return {
      name: this.name,
      model,
      files: [...this.files].map(([path, location]) => ({ path, location })),
      memory,
      inputs: this.inputs,
      outputs: this.outputs,
      ops: distinctOps(this.nodes),
    };
  }
}

export const MEMORY_LOCATION = 'memory.bin';

function distinctOps(nodes: readonly NodeDef[]): Array<{ domain: string; opType: string }> {
  const seen = new Map<string, { domain: string; opType: string }>();
  for (const n of nodes) seen.set(`${n.domain}|${n.opType}`, { domain: n.domain, opType: n.opType });
  return [...seen.values()].sort((a, b) => `${a.domain}|${a.opType}`.localeCompare(`${b.domain}|${b.opType}`));
}

function toAttr(v: Attr): AttrValue {
  if (v instanceof FloatAttr) return { kind: 'float', value: v.value };
  if (v instanceof FloatsAttr) return { kind: 'floats', value: v.value };
  if (typeof v === 'number') return { kind: 'int', value: v };
  if (typeof v === 'string') return { kind: 'string', value: v };
  if (Array.isArray(v)) return { kind: 'ints', value: v as number[] };
  return v as AttrValue;
}
