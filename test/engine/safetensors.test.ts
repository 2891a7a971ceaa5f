import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile, encodeSafetensors, floatToHalf, halfToFloat } from '../../engine/weights/safetensors.ts';

const dir = mkdtempSync(join(tmpdir(), 'ipa-st-'));

test('reads tensors lazily by byte range', () => {
  const p = join(dir, 'ok.safetensors');
  writeFileSync(p, encodeSafetensors({
    a: { dtype: 'F32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
    b: { dtype: 'F16', shape: [2], data: new Uint16Array([floatToHalf(0.5), floatToHalf(-2)]) },
    c: { dtype: 'I64', shape: [1], data: new BigInt64Array([7n]) },
  }, { format: 'pt' }));
  const f = SafetensorsFile.open(p);
  assert.deepEqual(f.keys(), ['a', 'b', 'c']);
  assert.deepEqual([...f.readFloat32('a')], [1, 2, 3, 4]);
  assert.deepEqual([...f.readFloat32('b')], [0.5, -2]);
  assert.equal(f.readInt64('c')[0], 7n);
  assert.equal(f.metadata.format, 'pt');
});

test('a truncated file names the file and the first tensor past the end', () => {
  const p = join(dir, 'trunc.safetensors');
  const full = encodeSafetensors({
    a: { dtype: 'F32', shape: [4], data: new Float32Array(4) },
    b: { dtype: 'F32', shape: [4], data: new Float32Array(4) },
  });
  writeFileSync(p, full.subarray(0, full.length - 4));
  assert.throws(() => SafetensorsFile.open(p), (e: Error) => e.message.includes('trunc.safetensors') && e.message.includes('"b"') && /truncated/.test(e.message));
});

test('garbage header, unknown dtype and overlapping ranges are clear errors', () => {
  const bad = join(dir, 'bad.safetensors');
  writeFileSync(bad, Buffer.from('this is not a safetensors file at all'));
  assert.throws(() => SafetensorsFile.open(bad), /bad\.safetensors: header length/);

  const mk = (header: object, dataBytes: number) => {
    const json = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    return Buffer.concat([len, json, Buffer.alloc(dataBytes)]);
  };
  const p2 = join(dir, 'dtype.safetensors');
  writeFileSync(p2, mk({ x: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, 1));
  assert.throws(() => SafetensorsFile.open(p2), /"x".*unknown dtype/);
  const p3 = join(dir, 'overlap.safetensors');
  writeFileSync(p3, mk({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12));
  assert.throws(() => SafetensorsFile.open(p3), /overlaps/);
});

test('half precision round trip', () => {
  for (const v of [0, 1, -1, 0.1, 65504, 6.1e-5, 1e-7, -3.14159]) {
    const back = halfToFloat(floatToHalf(v));
    assert.ok(Math.abs(back - v) <= Math.abs(v) * 1e-3 + 6e-8, `${v} -> ${back}`);
  }
});
