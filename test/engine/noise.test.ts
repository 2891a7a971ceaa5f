import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GaussianStream, noise, philox4x32, seedKey, slerp, stepNoiseSource, variationNoise } from '../../engine/noise.ts';

const hex = (a: Uint32Array): string => Array.from(a, (x) => x.toString(16).padStart(8, '0')).join(' ');

test('Philox4x32-10 matches the Random123 known-answer vectors', () => {
  assert.equal(hex(philox4x32([0, 0, 0, 0], [0, 0])), '6627e8d5 e169c58d bc57ac4c 9b00dbd8');
  assert.equal(hex(philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff])), '408f276d 41c83b0e a20bc7c6 6d5451fd');
  assert.equal(hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])), 'd16cfe09 94fdcceb 5001e420 24126ea1');
});

test('golden values (also reproduced by an independent Python implementation of the documented algorithm)', () => {
  assert.deepEqual(Array.from(noise(42, [2, 4])), [
    0.8864974975585938, 0.4393560588359833, -0.15660962462425232, -0.013718678615987301,
    -0.49410051107406616, -0.37216684222221375, -0.6798916459083557, -0.41020363569259644,
  ]);
  assert.deepEqual(Array.from(noise(2n ** 40n + 3n, [4])), [-0.3186964988708496, -1.4435452222824097, 1.9660091400146484, 0.2608967423439026]);
  assert.deepEqual(Array.from(noise(0, [4], 1)), [1.0711733102798462, 0.41623812913894653, -0.6843032836914062, 0.026856856420636177]);
});

test('same seed, same noise; other seeds and streams differ', () => {
  const a = noise(1234, [4, 64, 64]);
  assert.deepEqual(a, noise(1234, [4, 64, 64]));
  assert.deepEqual(a, noise(1234n, [4, 64, 64]));
  assert.notDeepEqual(a.slice(0, 16), noise(1235, [16]));
  assert.notDeepEqual(a.slice(0, 16), noise(1234, [16], 1));
  // A prefix does not depend on the total size (odd sizes included).
  assert.deepEqual(noise(1234, [5]), a.slice(0, 5));
});

test('standard normal statistics', () => {
  const z = noise(7, [1 << 18]);
  let s = 0;
  let s2 = 0;
  for (const v of z) {
    s += v;
    s2 += v * v;
  }
  const mean = s / z.length;
  const std = Math.sqrt(s2 / z.length - mean * mean);
  assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(std - 1) < 0.01, `std ${std}`);
  assert.ok(z.every(Number.isFinite));
});

test('streams read sequentially continue where they stopped', () => {
  const s = new GaussianStream(99, 1);
  const parts = [s.next(6), s.next(4)];
  assert.deepEqual(Array.from(parts[0]).concat(Array.from(parts[1])), Array.from(noise(99, [10], 1)));
  const src = stepNoiseSource(99);
  assert.deepEqual(src(6), parts[0]);
  assert.deepEqual(src(4), parts[1]);
});

test('seed validation and key split', () => {
  assert.deepEqual(seedKey(2 ** 32 + 5), [5, 1]);
  assert.deepEqual(seedKey((1n << 64n) - 1n), [0xffffffff, 0xffffffff]);
  assert.throws(() => seedKey(-1), RangeError);
  assert.throws(() => seedKey(1.5), RangeError);
  assert.throws(() => seedKey(1n << 64n), RangeError);
});

test('variation noise: strength 0 is the seed, 1 the variation seed, norm preserved in between', () => {
  const shape = [4, 32, 32];
  const base = noise(5, shape);
  const other = noise(6, shape);
  assert.deepEqual(variationNoise(5, 6, 0, shape), base);
  const full = variationNoise(5, 6, 1, shape);
  for (let k = 0; k < full.length; k++) assert.ok(Math.abs(full[k] - other[k]) < 1e-5);
  const norm = (a: Float32Array): number => Math.sqrt(a.reduce((s, v) => s + v * v, 0));
  const mid = variationNoise(5, 6, 0.3, shape);
  assert.ok(Math.abs(norm(mid) / Math.sqrt(norm(base) * norm(other)) - 1) < 0.01);
  assert.deepEqual(variationNoise(5, 6, 0.3, shape), mid);
  // Nearly parallel inputs fall back to lerp.
  const near = slerp(0.5, base, base);
  for (let k = 0; k < near.length; k++) assert.ok(Math.abs(near[k] - base[k]) < 1e-6);
  assert.throws(() => variationNoise(5, 6, 1.5, shape), RangeError);
});
