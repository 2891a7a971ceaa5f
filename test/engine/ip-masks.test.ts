/** Regional image-prompt masks (engine/pipeline/ip-masks.ts): IPAdapterMaskProcessor semantics. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bicubicResize, binarizeMask, downsampleMask, ipMaskFeeds, maskGrid } from '../../engine/pipeline/ip-masks.ts';
import type { Attn2Layer } from '../../engine/weights/unet-structure.ts';

const close = (a: ArrayLike<number>, b: readonly number[], eps = 1e-6): void => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= eps, `[${i}] ${a[i]} vs ${b[i]}`);
};

test('bicubicResize matches PyTorch bicubic (a = -0.75, align_corners=False, clamped taps)', () => {
  // [0, 1] to 4 columns, worked by hand from the kernel: output 0 samples x = -0.25, taps at -2..1
  // clamped to 0, 0, 0, 1, so it is the weight of distance 1.25 alone: -0.10546875; output 1 (x = 0.25)
  // gets the weights of distances 0.75 and 1.75 (both taps clamp to 1): 0.26171875 - 0.03515625.
  close(bicubicResize({ width: 2, height: 1, data: Float32Array.of(0, 1) }, 1, 4).data, [-0.10546875, 0.2265625, 0.7734375, 1.10546875]);
  // same size is the identity; a constant stays constant (the weights sum to 1)
  const m = { width: 3, height: 2, data: Float32Array.of(0.1, 0.7, 0.3, 0.9, 0.2, 0.5) };
  close(bicubicResize(m, 2, 3).data, [...m.data]);
  close(bicubicResize({ width: 5, height: 4, data: new Float32Array(20).fill(0.25) }, 3, 2).data, new Array(6).fill(0.25));
});

test('maskGrid follows IPAdapterMaskProcessor.downsample (ratio = w/h, mask_h rounding up when it does not divide N)', () => {
  // image 64x96 (ratio 1.5): SD1.5 layers at 8x12, 4x6, 2x3, 1x2
  assert.deepEqual(maskGrid(64, 96, 96), [8, 12]);
  assert.deepEqual(maskGrid(64, 96, 24), [4, 6]);
  assert.deepEqual(maskGrid(64, 96, 6), [2, 3]);
  assert.deepEqual(maskGrid(64, 96, 2), [1, 2]);
  // square 1024²: SDXL's 64² / 32² grids
  assert.deepEqual(maskGrid(1024, 1024, 4096), [64, 64]);
  assert.deepEqual(maskGrid(1024, 1024, 1024), [32, 32]);
  // a grid diffusers gets wrong (N = 7 at ratio 1): 3 x 2 = 6 values, zero-padded to 7
  assert.deepEqual(maskGrid(10, 10, 7), [3, 2]);
  assert.equal(downsampleMask({ width: 10, height: 10, data: new Float32Array(100).fill(1) }, 7)[6], 0);
  // very wide masks never give a zero height
  assert.deepEqual(maskGrid(1, 100, 2), [1, 2]);
});

test('binarizeMask: /255 then >= 0.5 (128 in, 127 out); wrong byte counts are refused', () => {
  const m = binarizeMask({ width: 4, height: 1, data: Uint8Array.of(0, 127, 128, 255) }, 4, 1);
  assert.deepEqual([...m.data], [0, 0, 1, 1]);
  assert.throws(() => binarizeMask({ width: 4, height: 2, data: new Uint8Array(4) }, 4, 2), /4 bytes for 4x2/);
  // another size is resized to the image first
  const r = binarizeMask({ width: 2, height: 1, data: Uint8Array.of(0, 255) }, 4, 1);
  assert.deepEqual([...r.data], [0, 0, 1, 1]);
});

test('downsampling is not re-binarized: a left-half mask at 2x3 has 0.5 in its middle column', () => {
  const H = 64;
  const W = 96;
  const data = new Float32Array(H * W);
  for (let y = 0; y < H; y++) data.fill(1, y * W, y * W + W / 2);
  const q6 = downsampleMask({ width: W, height: H, data }, 6);
  close(q6, [1, 0.5, 0, 1, 0.5, 0], 1e-6);
});

test('ipMaskFeeds: one [A, N] input per attn2 resolution; unmasked slots (and no slots) are ones', () => {
  const layers = [{ downsamples: 0 }, { downsamples: 1 }, { downsamples: 1 }, { downsamples: 3 }] as unknown as Attn2Layer[];
  const none = ipMaskFeeds([], { attn2: layers }, 8, 12);
  assert.deepEqual([...none.keys()], [0, 1, 3]);
  assert.deepEqual(none.get(3)!.dims, [1, 2]);
  assert.ok(none.get(0)!.data.every((v) => v === 1));
  const left = { width: 96, height: 64, data: new Float32Array(64 * 96) };
  for (let y = 0; y < 64; y++) left.data.fill(1, y * 96, y * 96 + 48);
  const two = ipMaskFeeds([undefined, left], { attn2: layers }, 8, 12);
  const q24 = two.get(1)!;
  assert.deepEqual(q24.dims, [2, 24]);
  assert.ok(q24.data.subarray(0, 24).every((v) => v === 1));
  close(q24.data.subarray(24, 30), [1, 1, 1, 0, 0, 0], 1e-6);
});
