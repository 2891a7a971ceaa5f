/**
 * The torch zip reader against files built here the way torch.save writes them (no torch in this
 * environment): a zip of stored entries, 64-byte aligned by an "FB" padding extra field like
 * PyTorchStreamWriter, and a data.pkl produced by a small emitter that follows CPython's protocol-2
 * Pickler (memoized strings and globals, TUPLE1-3, MARK…SETITEMS batches, OrderedDict via REDUCE +
 * BUILD of `_metadata`, BINPERSID storage references). One pickle is also written out byte by byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, TensorType } from '../../engine/onnx/builder.ts';
import { createSession } from '../../engine/runtime/session.ts';
import { encodeSafetensors, floatToHalf, type Dtype } from '../../engine/weights/safetensors.ts';
import { readWeightFloat32 } from '../../engine/weights/source.ts';
import { isTorchZip, torchZipSource, TorchZipFile, unpickleTorch, PyDict, TensorRef } from '../../engine/weights/torch-zip.ts';

const dir = mkdtempSync(join(tmpdir(), 'ipa-torchzip-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// A protocol-2 pickle emitter for the objects torch.save writes.

interface Storage { readonly type: string; readonly key: string; readonly numel: number }
type Py =
  | string | number | boolean
  | { readonly tuple: readonly Py[] }
  | { readonly dict: ReadonlyArray<readonly [string, Py]>; readonly ordered?: boolean; readonly metadata?: Py }
  | { readonly tensor: Storage; readonly offset: number; readonly size: readonly number[]; readonly stride: readonly number[] };

class Pickler {
  private readonly out: number[] = [];
  private memoNext = 0;
  private readonly memo = new Map<string, number>();

  private bytes(...b: number[]): void { this.out.push(...b); }
  private u32(n: number): void { this.bytes(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff); }
  private text(s: string): void { this.out.push(...Buffer.from(s, 'utf8')); }

  private put(key?: string): void {
    const n = this.memoNext++;
    if (key !== undefined) this.memo.set(key, n);
    if (n < 256) this.bytes(0x71, n); else { this.bytes(0x72); this.u32(n); }
  }

  private get(key: string): boolean {
    const n = this.memo.get(key);
    if (n === undefined) return false;
    if (n < 256) this.bytes(0x68, n); else { this.bytes(0x6a); this.u32(n); }
    return true;
  }

  global(module: string, name: string): void {
    if (this.get(`g:${module}.${name}`)) return;
    this.bytes(0x63);
    this.text(`${module}\n${name}\n`);
    this.put(`g:${module}.${name}`);
  }

  save(v: Py): void {
    if (typeof v === 'string') {
      if (this.get(`s:${v}`)) return;
      const b = Buffer.from(v, 'utf8');
      this.bytes(0x58); this.u32(b.length); this.out.push(...b);
      this.put(`s:${v}`);
    } else if (typeof v === 'boolean') this.bytes(v ? 0x88 : 0x89);
    else if (typeof v === 'number') {
      if (v >= 0 && v <= 0xff) this.bytes(0x4b, v);
      else if (v >= 0 && v <= 0xffff) this.bytes(0x4d, v & 0xff, v >> 8);
      else { this.bytes(0x4a); this.u32(v); }
    } else if ('tuple' in v) this.tuple(v.tuple, () => v.tuple.forEach((x) => this.save(x)));
    else if ('dict' in v) this.dict(v);
    else this.tensor(v);
  }

  private tuple(items: readonly unknown[], saveItems: () => void): void {
    if (items.length === 0) return this.bytes(0x29);
    if (items.length <= 3) {
      saveItems();
      this.bytes([0x85, 0x86, 0x87][items.length - 1]);
    } else {
      this.bytes(0x28);
      saveItems();
      this.bytes(0x74);
    }
    this.put();
  }

  private dict(d: { readonly dict: ReadonlyArray<readonly [string, Py]>; readonly ordered?: boolean; readonly metadata?: Py }): void {
    if (d.ordered) {
      this.global('collections', 'OrderedDict');
      this.bytes(0x29, 0x52); // EMPTY_TUPLE REDUCE
    } else this.bytes(0x7d);
    this.put();
    if (d.dict.length > 1) this.bytes(0x28);
    for (const [k, x] of d.dict) { this.save(k); this.save(x); }
    if (d.dict.length > 1) this.bytes(0x75);
    else if (d.dict.length === 1) this.bytes(0x73);
    if (d.metadata !== undefined) {
      this.save(d.metadata);
      this.bytes(0x62); // BUILD
    }
  }

  private tensor(t: { readonly tensor: Storage; readonly offset: number; readonly size: readonly number[]; readonly stride: readonly number[] }): void {
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.bytes(0x28); // MARK: 6 arguments
    this.tuple([0, 1, 2, 3, 4], () => {
      this.save('storage');
      this.global('torch', t.tensor.type);
      this.save(t.tensor.key);
      this.save('cpu');
      this.save(t.tensor.numel);
    });
    this.bytes(0x51); // BINPERSID
    this.save(t.offset);
    this.save({ tuple: t.size });
    this.save({ tuple: t.stride });
    this.save(false);
    this.save({ dict: [], ordered: true }); // backward_hooks = OrderedDict()
    this.bytes(0x74);
    this.put();
    this.bytes(0x52);
    this.put();
  }

  dump(v: Py): Uint8Array {
    this.bytes(0x80, 0x02);
    this.save(v);
    this.bytes(0x2e);
    return Uint8Array.from(this.out);
  }
}

const pickle = (v: Py) => new Pickler().dump(v);

// ---------------------------------------------------------------------------------------------
// A zip of stored entries the way PyTorchStreamWriter lays it out.

interface ZipOptions { readonly zip64Offsets?: boolean }

function zipStored(records: ReadonlyArray<readonly [string, Uint8Array]>, opts: ZipOptions = {}): Buffer {
  const chunks: Buffer[] = [];
  const central: Buffer[] = [];
  let pos = 0;
  for (const [name, data] of records) {
    const nameBuf = Buffer.from(name, 'utf8');
    const unpadded = pos + 30 + nameBuf.length + 4;
    const pad = (64 - (unpadded % 64)) % 64;
    const extra = Buffer.alloc(4 + pad);
    extra.write('FB', 0, 'latin1');
    extra.writeUInt16LE(pad, 2);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    local.writeUInt16LE(extra.length, 28);
    const z64 = Buffer.alloc(opts.zip64Offsets ? 12 : 0);
    if (opts.zip64Offsets) {
      z64.writeUInt16LE(0x0001, 0);
      z64.writeUInt16LE(8, 2);
      z64.writeBigUInt64LE(BigInt(pos), 4);
    }
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(data.length, 20);
    c.writeUInt32LE(data.length, 24);
    c.writeUInt16LE(nameBuf.length, 28);
    c.writeUInt16LE(z64.length, 30);
    c.writeUInt32LE(opts.zip64Offsets ? 0xffffffff : pos, 42);
    central.push(c, nameBuf, z64);
    chunks.push(local, nameBuf, extra, Buffer.from(data));
    pos += 30 + nameBuf.length + extra.length + data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(records.length, 8);
  end.writeUInt16LE(records.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(pos, 16);
  return Buffer.concat([...chunks, cd, end]);
}

/** torch.save: data.pkl, byteorder, data/<key>…, version, under the archive folder. */
function torchSave(path: string, obj: Py, storages: ReadonlyMap<string, Uint8Array>, archive = 'archive', opts: ZipOptions = {}): Buffer {
  const records: Array<[string, Uint8Array]> = [[`${archive}/data.pkl`, pickle(obj)], [`${archive}/byteorder`, Buffer.from('little')]];
  for (const key of [...storages.keys()].sort()) records.push([`${archive}/data/${key}`, storages.get(key)!]);
  records.push([`${archive}/version`, Buffer.from('3\n')]);
  const bytes = zipStored(records, opts);
  writeFileSync(path, bytes);
  return bytes;
}

const bytesOf = (a: Float32Array | Uint16Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const f32 = (...v: number[]) => new Float32Array(v);
const bf16 = (v: number[]) => Uint16Array.from(v, (x) => new Uint32Array(f32(x).buffer)[0] >>> 16);
const rowMajor = (shape: readonly number[]) => shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
const tensor = (type: string, key: string, numel: number, size: readonly number[], offset = 0, stride = rowMajor(size)): Py =>
  ({ tensor: { type, key, numel }, offset, size, stride });

// ---------------------------------------------------------------------------------------------

test('an IP-Adapter .bin reads back as flattened byte ranges with the safetensors names', () => {
  const projW = f32(1, -2, 3.5, 4, 5, 6, 7, -8);
  const projB = f32(0.25, 0.5, 0.75, 1);
  const norm = Uint16Array.from([1, 0.5, -0.25, 2], floatToHalf);
  const toK = f32(...Array.from({ length: 6 }, (_, i) => i / 8));
  const toV = bf16([1, 2, -3, 0.5, 0.25, -1]);
  const metadata: Py = { dict: [['_metadata', { dict: [['', { dict: [['version', 1]] }], ['proj', { dict: [['version', 1]] }]], ordered: true }]] };
  const obj: Py = {
    dict: [
      ['image_proj', { dict: [['proj.weight', tensor('FloatStorage', '0', 8, [4, 2])], ['proj.bias', tensor('FloatStorage', '1', 4, [4])], ['norm.weight', tensor('HalfStorage', '2', 4, [4])]], ordered: true, metadata }],
      ['ip_adapter', { dict: [['1.to_k_ip.weight', tensor('FloatStorage', '3', 6, [2, 3])], ['1.to_v_ip.weight', tensor('BFloat16Storage', '4', 6, [2, 3])]] }],
    ],
  };
  const p = join(dir, 'ip-adapter_sd15.bin');
  torchSave(p, obj, new Map([['0', bytesOf(projW)], ['1', bytesOf(projB)], ['2', bytesOf(norm)], ['3', bytesOf(toK)], ['4', bytesOf(toV)]]), 'ip-adapter_sd15');
  assert.equal(isTorchZip(p), true);
  const src = torchZipSource(p);
  assert.deepEqual(src.keys(), ['image_proj.proj.weight', 'image_proj.proj.bias', 'image_proj.norm.weight', 'ip_adapter.1.to_k_ip.weight', 'ip_adapter.1.to_v_ip.weight']);
  const w = src.get('image_proj.proj.weight')!;
  assert.equal(w.dtype, 'F32');
  assert.deepEqual(w.shape, [4, 2]);
  assert.ok('file' in w.data && w.data.file === p && w.data.offset % 64 === 0 && w.data.byteLength === 32);
  assert.match(w.origin, /ip-adapter_sd15\.bin: image_proj\.proj\.weight$/);
  assert.deepEqual(readWeightFloat32(w), projW);
  assert.deepEqual(readWeightFloat32(src.get('image_proj.proj.bias')!), projB);
  assert.equal(src.get('image_proj.norm.weight')!.dtype, 'F16');
  assert.deepEqual([...readWeightFloat32(src.get('image_proj.norm.weight')!)], [1, 0.5, -0.25, 2]);
  assert.deepEqual(readWeightFloat32(src.get('ip_adapter.1.to_k_ip.weight')!), toK);
  const v = src.get('ip_adapter.1.to_v_ip.weight')!;
  assert.equal(v.dtype, 'BF16');
  assert.deepEqual([...readWeightFloat32(v)], [1, 2, -3, 0.5, 0.25, -1]);
  assert.equal(src.get('nope'), undefined);
  // A prefix selects one sub-dict, like safetensorsSource.
  assert.deepEqual(torchZipSource(p, 'ip_adapter.').keys(), ['1.to_k_ip.weight', '1.to_v_ip.weight']);
});

test('a pickle written out opcode by opcode (torch.save({"w": 2x2 float})) matches the emitter and loads', () => {
  const esc = (s: string) => [...Buffer.from(s, 'latin1')];
  const len = (n: number) => [n, 0, 0, 0];
  const literal = Uint8Array.from([
    0x80, 0x02, // PROTO 2
    0x7d, 0x71, 0x00, // EMPTY_DICT, BINPUT 0
    0x58, ...len(1), ...esc('w'), 0x71, 0x01, // BINUNICODE 'w'
    0x63, ...esc('torch._utils\n_rebuild_tensor_v2\n'), 0x71, 0x02, // GLOBAL
    0x28, // MARK (rebuild args)
    0x28, // MARK (persistent id)
    0x58, ...len(7), ...esc('storage'), 0x71, 0x03,
    0x63, ...esc('torch\nFloatStorage\n'), 0x71, 0x04,
    0x58, ...len(1), ...esc('0'), 0x71, 0x05,
    0x58, ...len(3), ...esc('cpu'), 0x71, 0x06,
    0x4b, 0x04, // BININT1 numel
    0x74, 0x71, 0x07, // TUPLE
    0x51, // BINPERSID
    0x4b, 0x00, // storage_offset
    0x4b, 0x02, 0x4b, 0x02, 0x86, 0x71, 0x08, // size (2, 2)
    0x4b, 0x02, 0x4b, 0x01, 0x86, 0x71, 0x09, // stride (2, 1)
    0x89, // requires_grad False
    0x63, ...esc('collections\nOrderedDict\n'), 0x71, 0x0a, 0x29, 0x52, 0x71, 0x0b, // OrderedDict()
    0x74, 0x71, 0x0c, // TUPLE
    0x52, 0x71, 0x0d, // REDUCE
    0x73, // SETITEM
    0x2e, // STOP
  ]);
  assert.deepEqual(pickle({ dict: [['w', tensor('FloatStorage', '0', 4, [2, 2])]] }), literal);
  const root = unpickleTorch(literal);
  assert.ok(root instanceof PyDict);
  const t = root.entries.get('w');
  assert.ok(t instanceof TensorRef);
  assert.deepEqual([t.storage.dtype, t.storage.key, t.storage.numel, t.storageOffset, t.shape, t.stride], ['F32', '0', 4, 0, [2, 2], [2, 1]]);
  const p = join(dir, 'literal.pt');
  writeFileSync(p, zipStored([['archive/data.pkl', literal], ['archive/data/0', bytesOf(f32(1, 2, 3, 4))]]));
  assert.deepEqual(readWeightFloat32(torchZipSource(p).get('w')!), f32(1, 2, 3, 4));
});

test('tensors sharing one storage get their own offsets; scalars, size-1 strides and zip64 offsets work', () => {
  const data = f32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
  const obj: Py = {
    dict: [
      ['a', tensor('FloatStorage', '0', 10, [2, 2])],
      ['b', tensor('FloatStorage', '0', 10, [3], 4)],
      ['c', tensor('FloatStorage', '0', 10, [], 9, [])],
      ['d', tensor('FloatStorage', '0', 10, [1, 3], 7, [99, 1])], // size-1 dim: stride is irrelevant
    ],
  };
  const p = join(dir, 'shared.bin');
  torchSave(p, obj, new Map([['0', bytesOf(data)]]), 'shared', { zip64Offsets: true });
  const src = torchZipSource(p);
  assert.deepEqual([...readWeightFloat32(src.get('a')!)], [0, 1, 2, 3]);
  assert.deepEqual([...readWeightFloat32(src.get('b')!)], [4, 5, 6]);
  assert.deepEqual([...readWeightFloat32(src.get('c')!)], [9]);
  assert.deepEqual(src.get('c')!.shape, []);
  assert.deepEqual([...readWeightFloat32(src.get('d')!)], [7, 8, 9]);
});

test('non-contiguous tensors, out-of-range views and missing storages are clear errors', () => {
  const data = bytesOf(f32(1, 2, 3, 4, 5, 6));
  const p = join(dir, 'transposed.bin');
  torchSave(p, { dict: [['t', tensor('FloatStorage', '0', 6, [3, 2], 0, [1, 3])]] }, new Map([['0', data]]));
  assert.throws(() => torchZipSource(p), (e: Error) => e.message.includes('transposed.bin') && /tensor "t" is not contiguous \(shape \[3,2\], stride \[1,3\]\)/.test(e.message));

  const q = join(dir, 'overrun.bin');
  torchSave(q, { dict: [['t', tensor('FloatStorage', '0', 6, [4], 3)]] }, new Map([['0', data]]));
  assert.throws(() => torchZipSource(q), /tensor "t" reaches element 7 of a 6-element storage/);

  const r = join(dir, 'nostorage.bin');
  torchSave(r, { dict: [['t', tensor('FloatStorage', '7', 6, [6])]] }, new Map([['0', data]]));
  assert.throws(() => torchZipSource(r), /storage data\/7 is missing/);

  const s = join(dir, 'unknowntype.bin');
  torchSave(s, { dict: [['t', tensor('ComplexFloatStorage', '0', 3, [3])]] }, new Map([['0', data]]));
  assert.throws(() => torchZipSource(s), /unsupported tensor storage torch\.ComplexFloatStorage \(readable: DoubleStorage, FloatStorage/);

  // Hostile nesting (a list inside a list inside …) is an error, not a stack overflow.
  const deep = Uint8Array.from([0x80, 0x02, ...new Array(100).fill(0x5d), ...new Array(99).fill(0x61), 0x2e]);
  const d = join(dir, 'deep.bin');
  writeFileSync(d, zipStored([['archive/data.pkl', deep]]));
  assert.throws(() => torchZipSource(d), /deep\.bin: data\.pkl: containers nested deeper than 64/);
});

test('malicious pickles are refused before anything could run', () => {
  const esc = (s: string) => [...Buffer.from(s, 'latin1')];
  const evil = Uint8Array.from([0x80, 0x02, 0x63, ...esc('os\nsystem\n'), 0x71, 0x00, 0x58, 5, 0, 0, 0, ...esc('touch'), 0x85, 0x52, 0x2e]);
  assert.throws(() => unpickleTorch(evil), (e: Error) => /refusing global "os\.system"/.test(e.message) && /pickle byte 2/.test(e.message));
  const p = join(dir, 'evil.bin');
  writeFileSync(p, zipStored([['archive/data.pkl', evil]]));
  assert.throws(() => torchZipSource(p), (e: Error) => e.name === 'TorchZipError' && e.message.includes('evil.bin') && e.message.includes('os.system'));
  // Protocol 4 STACK_GLOBAL names the callable through strings on the stack.
  const stackGlobal = Uint8Array.from([0x80, 0x04, 0x8c, 8, ...esc('builtins'), 0x8c, 4, ...esc('eval'), 0x93, 0x2e]);
  assert.throws(() => unpickleTorch(stackGlobal), /refusing global "builtins\.eval"/);
  // An allowed module with a name outside the allow list is refused too.
  assert.throws(() => unpickleTorch(Uint8Array.from([0x80, 0x02, 0x63, ...esc('torch._utils\n_rebuild_from_type_v2\n'), 0x2e])), /refusing global "torch\._utils\._rebuild_from_type_v2"/);
  // Opcodes outside the set torch writes (INST can call classes) are refused by name.
  assert.throws(() => unpickleTorch(Uint8Array.from([0x80, 0x02, 0x28, 0x69, ...esc('os\nsystem\n'), 0x2e])), /opcode 0x69 \("i"\)/);
  // REDUCE of an allowed storage class (not callable) is refused.
  assert.throws(() => unpickleTorch(Uint8Array.from([0x80, 0x02, 0x63, ...esc('torch\nFloatStorage\n'), 0x29, 0x52, 0x2e])), /torch\.FloatStorage cannot be called/);
});

test('truncated and damaged files name the file and the problem', () => {
  const data = bytesOf(f32(1, 2, 3, 4));
  const full = torchSave(join(dir, 'whole.bin'), { dict: [['t', tensor('FloatStorage', '0', 4, [4])]] }, new Map([['0', data]]));
  const cut = join(dir, 'cut.bin');
  writeFileSync(cut, full.subarray(0, Math.floor(full.length * 0.6)));
  assert.throws(() => torchZipSource(cut), (e: Error) => e.message.startsWith(cut) && /truncated/.test(e.message));
  assert.equal(isTorchZip(cut), false);

  // Directory intact, storage bytes shortened: the central directory still points past the data.
  const short = join(dir, 'short.bin');
  writeFileSync(short, zipStored([['archive/data.pkl', pickle({ dict: [['t', tensor('FloatStorage', '0', 4, [4])]] })], ['archive/data/0', data.subarray(0, 8)]]));
  assert.throws(() => torchZipSource(short), /storage archive\/data\/0 holds 8 bytes but 4 F32 elements need 16/);

  const pkl = pickle({ dict: [['t', tensor('FloatStorage', '0', 4, [4])]] });
  const halfPickle = join(dir, 'halfpickle.bin');
  writeFileSync(halfPickle, zipStored([['archive/data.pkl', pkl.subarray(0, 40)], ['archive/data/0', data]]));
  assert.throws(() => torchZipSource(halfPickle), /data\.pkl: .*truncated data\.pkl/);

  const notZip = join(dir, 'garbage.bin');
  writeFileSync(notZip, Buffer.from('definitely not a zip archive, just some text that is long enough'));
  assert.throws(() => torchZipSource(notZip), /no zip end-of-central-directory record/);

  const noPkl = join(dir, 'nopkl.bin');
  writeFileSync(noPkl, zipStored([['archive/constants.pkl', pkl]]));
  assert.throws(() => torchZipSource(noPkl), /without data\.pkl/);

  const bigEndian = join(dir, 'bigendian.bin');
  writeFileSync(bigEndian, zipStored([['archive/data.pkl', pkl], ['archive/byteorder', Buffer.from('big')], ['archive/data/0', data]]));
  assert.throws(() => torchZipSource(bigEndian), /byteorder is "big"/);
});

test('isTorchZip tells torch zips from safetensors, legacy pickles and missing files', () => {
  const st = join(dir, 'x.safetensors');
  writeFileSync(st, encodeSafetensors({ a: { dtype: 'F32' as Dtype, shape: [1], data: f32(1) } }));
  assert.equal(isTorchZip(st), false);
  const legacy = join(dir, 'legacy.pt');
  writeFileSync(legacy, Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]));
  assert.equal(isTorchZip(legacy), false);
  assert.equal(isTorchZip(join(dir, 'missing.bin')), false);
  assert.equal(isTorchZip(join(dir, 'ip-adapter_sd15.bin')), true);
  assert.ok(TorchZipFile.open(join(dir, 'ip-adapter_sd15.bin')).archiveName === 'ip-adapter_sd15');
});

test('onnxruntime reads a .bin tensor through external data (byte range of the checkpoint)', async () => {
  const p = join(dir, 'ort.bin');
  const w = f32(0.5, -1, 2, 3, 4, -5);
  torchSave(p, { dict: [['ip_adapter', { dict: [['1.to_k_ip.weight', tensor('FloatStorage', '0', 6, [2, 3])]] }]] }, new Map([['0', bytesOf(w)]]));
  const g = new GraphBuilder('torchzip-probe', 'cpu');
  const x = g.input('x', TensorType.FLOAT, [1, 3]);
  const y = g.op('MatMul', [x, g.op('Transpose', [g.weight(torchZipSource(p), 'ip_adapter.1.to_k_ip.weight')], { perm: [1, 0] })]);
  g.output('y', y, TensorType.FLOAT, [1, 2]);
  const session = await createSession(g.build(), { provider: 'cpu', cacheDir: join(dir, 'cache') });
  const out = await session.run({ x: new ort.Tensor('float32', f32(1, 2, 3), [1, 3]) });
  assert.deepEqual([...(out.y.data as Float32Array)], [0.5 * 1 - 1 * 2 + 2 * 3, 3 * 1 + 4 * 2 - 5 * 3]);
  await session.release();
});
