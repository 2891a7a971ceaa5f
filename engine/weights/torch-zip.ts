/**
 * Read-only reader for PyTorch's zip checkpoints (torch.save since 1.6, e.g. h94's IP-Adapter .bin
 * files), exposed as a WeightSource whose tensors are byte ranges inside the .bin file (no copy).
 *
 * Layout: a zip whose entries share one folder prefix (torch names it after the file; "archive"
 * for streams): `<prefix>/data.pkl` (a pickle of the object), `<prefix>/data/<key>` (one raw storage
 * each, little-endian, stored uncompressed and 64-byte aligned by torch), `byteorder`, `version`, ….
 *
 * The pickle is read by a minimal interpreter that builds plain data only. It knows the opcodes
 * torch's protocol-2 pickles use (plus the harmless protocol 3/4 ones) and exactly four kinds of
 * global: `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter`,
 * `collections.OrderedDict` and the typed storage classes (`torch.FloatStorage`, …). Any other
 * global is refused at the GLOBAL opcode, before anything could be called; nothing is ever
 * executed — "calling" an allowed global only records the tensor's metadata.
 *
 * Nested dicts flatten to dotted keys, so `{"image_proj": {...}, "ip_adapter": {"1.to_k_ip.weight": …}}`
 * gives `image_proj.*` / `ip_adapter.1.to_k_ip.weight`, the names the .safetensors files use.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { DTYPE_BYTES, type Dtype } from './safetensors.ts';
import { storedTensorSource, type WeightSource } from './source.ts';

export class TorchZipError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'TorchZipError';
  }
}

// ---------------------------------------------------------------------------------------------
// Zip directory

export interface ZipEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflate. */
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localHeaderOffset: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const U32_MAX = 0xffffffff;
/** data.pkl of real checkpoints is a few MB at most; this only stops a hostile size field. */
const MAX_PICKLE_BYTES = 256 * 1024 * 1024;

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buf : buf.subarray(0, done);
}

function u64(buf: Buffer, at: number): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('64-bit zip field beyond 2^53');
  return Number(v);
}

/** Locates the central directory via the end record (and its zip64 twin when fields overflow). */
function findCentralDirectory(fd: number, file: string, fileSize: number): { offset: number; size: number; count: number } {
  const tailLen = Math.min(fileSize, 22 + 0xffff);
  const tail = readAt(fd, fileSize - tailLen, tailLen);
  let at = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === SIG_EOCD) {
      at = i;
      break;
    }
  }
  if (at < 0) throw new TorchZipError(file, 'no zip end-of-central-directory record (truncated file, or not a torch zip checkpoint)');
  let count = tail.readUInt16LE(at + 10);
  let size = tail.readUInt32LE(at + 12);
  let offset = tail.readUInt32LE(at + 16);
  const locatorAt = at - 20;
  if (locatorAt >= 0 && tail.readUInt32LE(locatorAt) === SIG_EOCD64_LOCATOR) {
    const eocd64At = u64(tail, locatorAt + 8);
    const rec = readAt(fd, eocd64At, 56);
    if (rec.length < 56 || rec.readUInt32LE(0) !== SIG_EOCD64) throw new TorchZipError(file, 'broken zip64 end record (truncated file?)');
    count = u64(rec, 32);
    size = u64(rec, 40);
    offset = u64(rec, 48);
  }
  if (offset + size > fileSize) throw new TorchZipError(file, `zip central directory ends at byte ${offset + size} beyond the file size ${fileSize} (truncated file?)`);
  return { offset, size, count };
}

/** Reads the zip64 extra field (0x0001): 64-bit values for the fields that read 0xFFFFFFFF. */
function zip64Extra(extra: Buffer, wanted: { size: boolean; compressed: boolean; offset: boolean }): { size?: number; compressed?: number; offset?: number } {
  for (let i = 0; i + 4 <= extra.length;) {
    const id = extra.readUInt16LE(i);
    const len = extra.readUInt16LE(i + 2);
    if (id === 0x0001) {
      let p = i + 4;
      const out: { size?: number; compressed?: number; offset?: number } = {};
      if (wanted.size) { out.size = u64(extra, p); p += 8; }
      if (wanted.compressed) { out.compressed = u64(extra, p); p += 8; }
      if (wanted.offset) { out.offset = u64(extra, p); }
      return out;
    }
    i += 4 + len;
  }
  return {};
}

export function readZipDirectory(fd: number, file: string): ZipEntry[] {
  const fileSize = fstatSync(fd).size;
  if (fileSize < 22) throw new TorchZipError(file, `file is ${fileSize} bytes, too short for a zip archive`);
  const cd = findCentralDirectory(fd, file, fileSize);
  const buf = readAt(fd, cd.offset, cd.size);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let n = 0; n < cd.count; n++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== SIG_CENTRAL) throw new TorchZipError(file, `zip central directory entry ${n} is damaged`);
    const method = buf.readUInt16LE(p + 10);
    let compressedSize = buf.readUInt32LE(p + 20);
    let size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    let localHeaderOffset = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    const z = zip64Extra(buf.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen), {
      size: size === U32_MAX, compressed: compressedSize === U32_MAX, offset: localHeaderOffset === U32_MAX,
    });
    size = z.size ?? size;
    compressedSize = z.compressed ?? compressedSize;
    localHeaderOffset = z.offset ?? localHeaderOffset;
    entries.push({ name, method, compressedSize, size, localHeaderOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** Absolute offset of an entry's data: the local header's own name/extra lengths count (torch pads the extra field). */
function dataOffset(fd: number, file: string, e: ZipEntry, fileSize: number): number {
  const h = readAt(fd, e.localHeaderOffset, 30);
  if (h.length < 30 || h.readUInt32LE(0) !== SIG_LOCAL) throw new TorchZipError(file, `zip entry "${e.name}": local header missing at byte ${e.localHeaderOffset} (truncated or damaged file)`);
  const start = e.localHeaderOffset + 30 + h.readUInt16LE(26) + h.readUInt16LE(28);
  if (start + e.compressedSize > fileSize) {
    throw new TorchZipError(file, `zip entry "${e.name}" ends at byte ${start + e.compressedSize} beyond the file size ${fileSize} (truncated file?)`);
  }
  return start;
}

// ---------------------------------------------------------------------------------------------
// Pickle values: plain data plus the three torch things the allowed globals produce.

export type PyValue =
  | null | boolean | number | bigint | string | Uint8Array
  | PyTuple | PyList | PyDict | PyGlobal | StorageRef | TensorRef;

export class PyTuple { constructor(readonly items: readonly PyValue[]) {} }
export class PyList { constructor(readonly items: PyValue[]) {} }
export class PyDict { readonly entries = new Map<string | number, PyValue>(); }
/** An allowed global, as a token; never a function. */
export class PyGlobal { constructor(readonly module: string, readonly name: string) {} }
export class StorageRef { constructor(readonly dtype: Dtype, readonly key: string, readonly numel: number) {} }
export class TensorRef {
  constructor(readonly storage: StorageRef, readonly storageOffset: number, readonly shape: readonly number[], readonly stride: readonly number[]) {}
}

/** torch.<X>Storage → dtype. Complex, quantized and untyped storages are refused. */
export const STORAGE_DTYPES: Readonly<Record<string, Dtype>> = {
  DoubleStorage: 'F64', FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16',
  LongStorage: 'I64', IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};

const ALLOWED_CALLABLES = new Set(['torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_parameter', 'collections.OrderedDict']);

function isAllowedGlobal(module: string, name: string): boolean {
  return ALLOWED_CALLABLES.has(`${module}.${name}`) || (module === 'torch' && name in STORAGE_DTYPES);
}

export class UnpicklingError extends Error {
  constructor(message: string, readonly position: number) {
    super(`${message} (pickle byte ${position})`);
    this.name = 'UnpicklingError';
  }
}

/**
 * Interprets a torch pickle into plain values. Refuses unknown globals and opcodes outright; the
 * only "calls" are the allowed rebuild functions, evaluated here as metadata records.
 */
export function unpickleTorch(data: Uint8Array): PyValue {
  const r = new PickleReader(data);
  return r.run();
}

class PickleReader {
  private pos = 0;
  /** Items since the innermost MARK; MARK saves the outer list on `marks`. */
  private stack: PyValue[] = [];
  private readonly marks: PyValue[][] = [];
  private readonly memo = new Map<number, PyValue>();
  private readonly view: DataView;

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  private fail(message: string, at = this.pos): never {
    throw new UnpicklingError(message, at);
  }

  private need(n: number): number {
    if (this.pos + n > this.data.length) this.fail(`pickle ends in the middle of an opcode (needs ${n} more bytes; truncated data.pkl?)`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private u8(): number { return this.data[this.need(1)]; }
  private u16(): number { return this.view.getUint16(this.need(2), true); }
  private i32(): number { return this.view.getInt32(this.need(4), true); }
  private u32(): number { return this.view.getUint32(this.need(4), true); }

  private bytes(n: number): Uint8Array {
    const at = this.need(n);
    return this.data.subarray(at, at + n);
  }

  private line(): string {
    const start = this.pos;
    const end = this.data.indexOf(0x0a, start);
    if (end < 0) this.fail('pickle ends inside a GLOBAL name (truncated data.pkl?)');
    if (end - start > 256) this.fail('GLOBAL name longer than 256 bytes');
    this.pos = end + 1;
    return Buffer.from(this.data.subarray(start, end)).toString('latin1');
  }

  private pop(): PyValue {
    if (this.stack.length === 0) this.fail('stack underflow (or a value expected where a MARK is)');
    return this.stack.pop() as PyValue;
  }

  private top(): PyValue {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack[this.stack.length - 1];
  }

  /** Items pushed since the last MARK (and drops the mark). */
  private popMark(): PyValue[] {
    const saved = this.marks.pop();
    if (!saved) this.fail('no MARK to pop to');
    const items = this.stack;
    this.stack = saved;
    return items;
  }

  private push(v: PyValue): void { this.stack.push(v); }

  run(): PyValue {
    for (;;) {
      if (this.pos >= this.data.length) this.fail('pickle ends without STOP (truncated data.pkl?)');
      const at = this.pos;
      const op = this.u8();
      switch (op) {
        case 0x80: { // PROTO
          const v = this.u8();
          if (v < 2 || v > 5) this.fail(`pickle protocol ${v} is not one torch writes`, at);
          break;
        }
        case 0x95: this.need(8); break; // FRAME (protocol 4): framing only
        case 0x2e: return this.pop(); // STOP
        case 0x28: this.marks.push(this.stack); this.stack = []; break; // MARK
        case 0x29: this.push(new PyTuple([])); break; // EMPTY_TUPLE
        case 0x74: this.push(new PyTuple(this.popMark())); break; // TUPLE
        case 0x85: this.push(new PyTuple([this.pop()])); break; // TUPLE1
        case 0x86: { const b = this.pop(); const a = this.pop(); this.push(new PyTuple([a, b])); break; } // TUPLE2
        case 0x87: { const c = this.pop(); const b = this.pop(); const a = this.pop(); this.push(new PyTuple([a, b, c])); break; } // TUPLE3
        case 0x5d: this.push(new PyList([])); break; // EMPTY_LIST
        case 0x6c: this.push(new PyList(this.popMark())); break; // LIST
        case 0x61: { const v = this.pop(); this.list(this.top(), at).items.push(v); break; } // APPEND
        case 0x65: { const items = this.popMark(); this.list(this.top(), at).items.push(...items); break; } // APPENDS
        case 0x7d: this.push(new PyDict()); break; // EMPTY_DICT
        case 0x64: { const d = new PyDict(); this.setItems(d, this.popMark(), at); this.push(d); break; } // DICT
        case 0x73: { const v = this.pop(); const k = this.pop(); this.setItems(this.dict(this.top(), at), [k, v], at); break; } // SETITEM
        case 0x75: { const items = this.popMark(); this.setItems(this.dict(this.top(), at), items, at); break; } // SETITEMS
        case 0x4e: this.push(null); break; // NONE
        case 0x88: this.push(true); break; // NEWTRUE
        case 0x89: this.push(false); break; // NEWFALSE
        case 0x4b: this.push(this.u8()); break; // BININT1
        case 0x4d: this.push(this.u16()); break; // BININT2
        case 0x4a: this.push(this.i32()); break; // BININT
        case 0x8a: this.push(this.long(this.u8(), at)); break; // LONG1
        case 0x47: this.push(this.view.getFloat64(this.need(8), false)); break; // BINFLOAT (big-endian)
        case 0x58: this.push(this.utf8(this.u32())); break; // BINUNICODE
        case 0x8c: this.push(this.utf8(this.u8())); break; // SHORT_BINUNICODE
        case 0x54: this.push(this.latin1(this.i32(), at)); break; // BINSTRING (py2 str)
        case 0x55: this.push(this.latin1(this.u8(), at)); break; // SHORT_BINSTRING
        case 0x42: this.push(this.bytes(this.u32()).slice()); break; // BINBYTES
        case 0x43: this.push(this.bytes(this.u8()).slice()); break; // SHORT_BINBYTES
        case 0x71: this.memo.set(this.u8(), this.top()); break; // BINPUT
        case 0x72: this.memo.set(this.u32(), this.top()); break; // LONG_BINPUT
        case 0x94: this.memo.set(this.memo.size, this.top()); break; // MEMOIZE
        case 0x68: this.push(this.get(this.u8(), at)); break; // BINGET
        case 0x6a: this.push(this.get(this.u32(), at)); break; // LONG_BINGET
        case 0x30: this.pop(); break; // POP
        case 0x31: this.popMark(); break; // POP_MARK
        case 0x32: this.push(this.top()); break; // DUP
        case 0x63: { const module = this.line(); const name = this.line(); this.push(this.global(module, name, at)); break; } // GLOBAL
        case 0x93: { // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') this.fail('STACK_GLOBAL needs two strings', at);
          this.push(this.global(module, name, at));
          break;
        }
        case 0x51: this.push(persistentLoad(this.pop(), (m) => this.fail(m, at))); break; // BINPERSID
        case 0x52: { const args = this.pop(); const fn = this.pop(); this.push(this.reduce(fn, args, at)); break; } // REDUCE
        case 0x62: { const state = this.pop(); this.build(this.top(), state, at); break; } // BUILD
        default:
          this.fail(`opcode 0x${op.toString(16).padStart(2, '0')} (${JSON.stringify(String.fromCharCode(op))}) is not one torch checkpoints use; refusing to interpret it`, at);
      }
    }
  }

  private utf8(n: number): string {
    return Buffer.from(this.bytes(n)).toString('utf8');
  }

  private latin1(n: number, at: number): string {
    if (n < 0) this.fail('negative string length', at);
    return Buffer.from(this.bytes(n)).toString('latin1');
  }

  private long(n: number, at: number): number | bigint {
    if (n > 8) this.fail(`integer of ${n} bytes is out of range`, at);
    let v = 0n;
    const b = this.bytes(n);
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (n > 0 && b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private get(i: number, at: number): PyValue {
    const v = this.memo.get(i);
    if (v === undefined) this.fail(`memo entry ${i} was never stored`, at);
    return v;
  }

  private list(v: PyValue, at: number): PyList {
    if (!(v instanceof PyList)) this.fail('APPEND to something that is not a list', at);
    return v;
  }

  private dict(v: PyValue, at: number): PyDict {
    if (!(v instanceof PyDict)) this.fail('SETITEM on something that is not a dict', at);
    return v;
  }

  private setItems(d: PyDict, items: readonly PyValue[], at: number): void {
    if (items.length % 2) this.fail('odd number of dict items', at);
    for (let i = 0; i < items.length; i += 2) {
      const k = items[i];
      if (typeof k !== 'string' && typeof k !== 'number') this.fail(`dict key of type ${describe(k)}; only str and int keys are supported`, at);
      d.entries.set(k, items[i + 1]);
    }
  }

  private global(module: string, name: string, at: number): PyGlobal {
    if (module === 'torch' && /^\w+Storage$/.test(name) && !(name in STORAGE_DTYPES)) {
      this.fail(`unsupported tensor storage torch.${name} (readable: ${Object.keys(STORAGE_DTYPES).join(', ')})`, at);
    }
    if (!isAllowedGlobal(module, name)) {
      this.fail(`refusing global "${module}.${name}": a torch weights file only needs torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, collections.OrderedDict and torch.*Storage (this file may try to run code)`, at);
    }
    return new PyGlobal(module, name);
  }

  private reduce(fn: PyValue, args: PyValue, at: number): PyValue {
    if (!(fn instanceof PyGlobal) || !(args instanceof PyTuple)) this.fail('REDUCE needs an allowed global and an argument tuple', at);
    const a = args.items;
    switch (`${fn.module}.${fn.name}`) {
      case 'collections.OrderedDict':
        if (a.length !== 0) this.fail('OrderedDict with constructor arguments', at);
        return new PyDict();
      case 'torch._utils._rebuild_tensor_v2':
        return rebuildTensor(a, (m) => this.fail(m, at));
      case 'torch._utils._rebuild_parameter':
        if (!(a[0] instanceof TensorRef)) this.fail('_rebuild_parameter without a tensor', at);
        return a[0];
      default:
        this.fail(`global ${fn.module}.${fn.name} cannot be called`, at);
    }
  }

  /** BUILD on an OrderedDict sets instance attributes (state_dict's `_metadata`): ignored. */
  private build(target: PyValue, state: PyValue, at: number): void {
    if (!(target instanceof PyDict) || !(state instanceof PyDict || state === null)) this.fail(`BUILD on ${describe(target)} is not supported`, at);
  }
}

function describe(v: PyValue): string {
  if (v === null) return 'None';
  if (typeof v !== 'object') return typeof v;
  return v.constructor.name;
}

function int(v: PyValue): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
}

function intTuple(v: PyValue): number[] | undefined {
  if (!(v instanceof PyTuple)) return undefined;
  const out = v.items.map(int);
  return out.every((x): x is number => x !== undefined) ? out : undefined;
}

/** ('storage', torch.XStorage, key, location, numel): torch's persistent id for one storage. */
function persistentLoad(pid: PyValue, fail: (m: string) => never): StorageRef {
  if (!(pid instanceof PyTuple) || pid.items.length !== 5 || pid.items[0] !== 'storage') fail('persistent id is not a torch storage reference');
  const [, type, key, , numel] = pid.items;
  if (!(type instanceof PyGlobal) || type.module !== 'torch' || !(type.name in STORAGE_DTYPES)) fail(`unsupported storage type ${type instanceof PyGlobal ? `${type.module}.${type.name}` : describe(type)}`);
  const n = int(numel);
  if (typeof key !== 'string' || n === undefined) fail('storage reference without a string key and element count');
  return new StorageRef(STORAGE_DTYPES[type.name], key, n);
}

/** _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]). */
function rebuildTensor(a: readonly PyValue[], fail: (m: string) => never): TensorRef {
  const [storage, offset, size, stride] = a;
  if (a.length < 6 || !(storage instanceof StorageRef)) fail('_rebuild_tensor_v2 without a storage');
  const off = int(offset);
  const shape = intTuple(size);
  const strides = intTuple(stride);
  if (off === undefined || !shape || !strides || shape.length !== strides.length) fail('_rebuild_tensor_v2 with a malformed offset, size or stride');
  return new TensorRef(storage, off, shape, strides);
}

// ---------------------------------------------------------------------------------------------
// Flattening and the WeightSource

export interface TorchTensorInfo {
  readonly key: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  /** Absolute byte offset in the .bin file. */
  readonly offset: number;
  readonly byteLength: number;
}

/** Checkpoints nest a few levels; this only stops a hostile pickle from exhausting the stack. */
const MAX_NESTING = 64;

/** Nested dicts / lists → dotted keys; non-tensor leaves (step counters, strings) are skipped. */
export function flattenTensors(v: PyValue, prefix = '', out = new Map<string, TensorRef>(), depth = 0): Map<string, TensorRef> {
  if (depth > MAX_NESTING) throw new Error(`containers nested deeper than ${MAX_NESTING} levels at "${prefix}"`);
  const join = (k: string | number) => (prefix ? `${prefix}.${k}` : String(k));
  if (v instanceof TensorRef) out.set(prefix, v);
  else if (v instanceof PyDict) for (const [k, x] of v.entries) flattenTensors(x, join(k), out, depth + 1);
  else if (v instanceof PyList || v instanceof PyTuple) v.items.forEach((x, i) => flattenTensors(x, join(i), out, depth + 1));
  return out;
}

/** Row-major contiguity; strides of size-1 dimensions do not matter (torch's own rule). */
export function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
}

export class TorchZipFile {
  private constructor(readonly path: string, readonly tensors: ReadonlyMap<string, TorchTensorInfo>, readonly archiveName: string) {}

  static open(path: string): TorchZipFile {
    const fd = openSync(path, 'r');
    try {
      const fileSize = fstatSync(fd).size;
      const entries = readZipDirectory(fd, path);
      const pkl = entries.find((e) => e.name === 'data.pkl' || e.name.endsWith('/data.pkl'));
      if (!pkl) throw new TorchZipError(path, 'zip archive without data.pkl: not a torch.save checkpoint (a TorchScript or other zip?)');
      const prefix = pkl.name.slice(0, pkl.name.length - 'data.pkl'.length);
      checkByteOrder(fd, path, entries.find((e) => e.name === `${prefix}byteorder`), fileSize);
      const root = parsePickle(path, readEntry(fd, path, pkl, fileSize));
      const byName = new Map(entries.map((e) => [e.name, e]));
      const tensors = new Map<string, TorchTensorInfo>();
      let flat: Map<string, TensorRef>;
      try {
        flat = flattenTensors(root);
      } catch (e) {
        throw new TorchZipError(path, `data.pkl: ${(e as Error).message}`);
      }
      for (const [key, t] of flat) {
        tensors.set(key, locateTensor(fd, path, key, t, byName.get(`${prefix}data/${t.storage.key}`), fileSize));
      }
      return new TorchZipFile(path, tensors, prefix.replace(/\/$/, ''));
    } finally {
      closeSync(fd);
    }
  }

  keys(): string[] {
    return [...this.tensors.keys()];
  }
}

function readEntry(fd: number, file: string, e: ZipEntry, fileSize: number): Uint8Array {
  if (e.compressedSize > MAX_PICKLE_BYTES || e.size > MAX_PICKLE_BYTES) throw new TorchZipError(file, `"${e.name}" is ${e.size} bytes, over the ${MAX_PICKLE_BYTES}-byte limit`);
  const raw = readAt(fd, dataOffset(fd, file, e, fileSize), e.compressedSize);
  if (e.method === 0) return raw;
  if (e.method === 8) {
    // torch stores entries; a re-zipped checkpoint may deflate the small pickle (its storages then fail below).
    try {
      return inflateRawSync(raw, { maxOutputLength: MAX_PICKLE_BYTES });
    } catch (err) {
      throw new TorchZipError(file, `"${e.name}" does not inflate: ${(err as Error).message}`);
    }
  }
  throw new TorchZipError(file, `"${e.name}" uses zip compression method ${e.method}; torch checkpoints store entries uncompressed`);
}

function checkByteOrder(fd: number, file: string, e: ZipEntry | undefined, fileSize: number): void {
  if (!e) return; // written since torch 2.1; older files are little-endian
  const order = Buffer.from(readEntry(fd, file, e, fileSize)).toString('latin1');
  if (order !== 'little') throw new TorchZipError(file, `byteorder is "${order}"; only little-endian checkpoints are supported`);
}

function parsePickle(file: string, bytes: Uint8Array): PyValue {
  try {
    return unpickleTorch(bytes);
  } catch (e) {
    if (e instanceof UnpicklingError) throw new TorchZipError(file, `data.pkl: ${e.message}`);
    throw e;
  }
}

function locateTensor(fd: number, file: string, key: string, t: TensorRef, entry: ZipEntry | undefined, fileSize: number): TorchTensorInfo {
  const where = `tensor "${key}"`;
  if (!entry) throw new TorchZipError(file, `${where}: storage data/${t.storage.key} is missing from the archive (truncated file?)`);
  if (entry.method !== 0) throw new TorchZipError(file, `${where}: storage ${entry.name} is compressed (method ${entry.method}); only stored entries can be read by byte range`);
  if (!isContiguous(t.shape, t.stride)) {
    throw new TorchZipError(file, `${where} is not contiguous (shape [${t.shape}], stride [${t.stride}]); save it with .contiguous() or convert the file to .safetensors`);
  }
  const elem = DTYPE_BYTES[t.storage.dtype];
  const numel = t.shape.reduce((a, b) => a * b, 1);
  if (t.storageOffset + numel > t.storage.numel) throw new TorchZipError(file, `${where} reaches element ${t.storageOffset + numel} of a ${t.storage.numel}-element storage`);
  if (entry.size < t.storage.numel * elem) {
    throw new TorchZipError(file, `${where}: storage ${entry.name} holds ${entry.size} bytes but ${t.storage.numel} ${t.storage.dtype} elements need ${t.storage.numel * elem}`);
  }
  const start = dataOffset(fd, file, entry, fileSize);
  return { key, dtype: t.storage.dtype, shape: t.shape, offset: start + t.storageOffset * elem, byteLength: numel * elem };
}

/** All tensors of a torch zip checkpoint as byte ranges of the file; `prefix` selects and strips a key prefix. */
export function torchZipSource(file: TorchZipFile | string, prefix = ''): WeightSource {
  const f = typeof file === 'string' ? TorchZipFile.open(file) : file;
  return storedTensorSource(f.path, f.tensors, prefix);
}

/** True for a zip archive holding a `data.pkl` (torch.save ≥ 1.6); never throws. */
export function isTorchZip(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = readAt(fd, 0, 4);
    if (head.length < 4 || head.readUInt32LE(0) !== SIG_LOCAL) return false;
    return readZipDirectory(fd, path).some((e) => e.name === 'data.pkl' || e.name.endsWith('/data.pkl'));
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
