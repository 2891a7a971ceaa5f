/**
 * A minimal protobuf writer for the subset of onnx.proto the graph builder emits (ModelProto,
 * GraphProto, NodeProto, AttributeProto, TensorProto with external data, ValueInfoProto).
 * Field numbers follow onnx/onnx.proto (IR version 8).
 */

export const enum TensorType {
  FLOAT = 1,
  UINT8 = 2,
  INT8 = 3,
  INT32 = 6,
  INT64 = 7,
  BOOL = 9,
  FLOAT16 = 10,
  DOUBLE = 11,
  BFLOAT16 = 16,
}

export type Dim = number | string;

export interface ValueInfo {
  readonly name: string;
  readonly type: TensorType;
  readonly dims: readonly Dim[];
}

export type AttrValue =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'tensor'; readonly value: TensorData };

export interface NodeDef {
  readonly opType: string;
  readonly domain: string;
  readonly name: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, AttrValue>>;
}

/** Either inline bytes or a byte range of an external file (location relative to the .onnx). */
export type TensorData =
  | { readonly name: string; readonly type: TensorType; readonly dims: readonly number[]; readonly raw: Uint8Array }
  | { readonly name: string; readonly type: TensorType; readonly dims: readonly number[]; readonly location: string; readonly offset: number; readonly length: number };

export interface ModelDef {
  readonly graphName: string;
  readonly nodes: readonly NodeDef[];
  readonly initializers: readonly TensorData[];
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly opsets: ReadonlyArray<{ readonly domain: string; readonly version: number }>;
  readonly producer: string;
  readonly docString?: string;
}

const IR_VERSION = 8;

/** Growable byte sink with protobuf primitives. */
class Writer {
  private buf = new Uint8Array(1024);
  len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    if (x < 0x80n) {
      this.ensure(1);
      this.buf[this.len++] = Number(x);
      return;
    }
    this.ensure(10);
    while (x >= 0x80n) {
      this.buf[this.len++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.len++] = Number(x);
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, 2);
    this.varint(data.length);
    this.ensure(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }

  int(field: number, v: number | bigint): void {
    this.tag(field, 0);
    this.varint(v);
  }

  float(field: number, v: number): void {
    this.tag(field, 5);
    this.ensure(4);
    new DataView(this.buf.buffer).setFloat32(this.len, v, true);
    this.len += 4;
  }

  message(field: number, write: (w: Writer) => void): void {
    const inner = new Writer();
    write(inner);
    this.bytes(field, inner.finish());
  }

  packedInts(field: number, values: readonly number[]): void {
    const inner = new Writer();
    for (const v of values) inner.varint(v);
    this.bytes(field, inner.finish());
  }

  packedFloats(field: number, values: readonly number[]): void {
    const f = new Float32Array(values);
    this.bytes(field, new Uint8Array(f.buffer));
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

function writeTensor(w: Writer, t: TensorData): void {
  for (const d of t.dims) w.int(1, d); // dims (unpacked is valid for repeated int64)
  w.int(2, t.type);
  w.string(8, t.name);
  if ('raw' in t) {
    w.bytes(9, t.raw);
  } else {
    const entry = (k: string, v: string) => w.message(13, (e) => { e.string(1, k); e.string(2, v); });
    entry('location', t.location);
    entry('offset', String(t.offset));
    entry('length', String(t.length));
    w.int(14, 1); // data_location = EXTERNAL
  }
}

function writeValueInfo(w: Writer, v: ValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) => type.message(1, (tensor) => {
    tensor.int(1, v.type);
    tensor.message(2, (shape) => {
      for (const d of v.dims) {
        shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      }
    });
  }));
}

const ATTR_TYPE = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7 } as const;

function writeAttr(w: Writer, name: string, a: AttrValue): void {
  w.string(1, name);
  w.int(20, ATTR_TYPE[a.kind]);
  switch (a.kind) {
    case 'float': w.float(2, a.value); break;
    case 'int': w.int(3, a.value); break;
    case 'string': w.string(4, a.value); break;
    case 'tensor': w.message(5, (t) => writeTensor(t, a.value)); break;
    case 'floats': for (const v of a.value) w.float(7, v); break;
    case 'ints': for (const v of a.value) w.int(8, v); break;
  }
}

function writeNode(w: Writer, n: NodeDef): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.opType);
  for (const [k, v] of Object.entries(n.attrs)) w.message(5, (a) => writeAttr(a, k, v));
  if (n.domain) w.string(7, n.domain);
}

export function encodeModel(m: ModelDef): Uint8Array {
  const w = new Writer();
  w.int(1, IR_VERSION);
  w.string(2, m.producer);
  w.message(7, (g) => {
    for (const n of m.nodes) g.message(1, (x) => writeNode(x, n));
    g.string(2, m.graphName);
    for (const t of m.initializers) g.message(5, (x) => writeTensor(x, t));
    if (m.docString) g.string(10, m.docString);
    for (const v of m.inputs) g.message(11, (x) => writeValueInfo(x, v));
    for (const v of m.outputs) g.message(12, (x) => writeValueInfo(x, v));
  });
  for (const o of m.opsets) w.message(8, (x) => { if (o.domain) x.string(1, o.domain); x.int(2, o.version); });
  return w.finish();
}
