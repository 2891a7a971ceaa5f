/** Raster ops, selection → mask, control-layer compositing. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { composeControl, isBlank } from '../../shared/plugin/pose-composite.ts';
import { blankRgba, drawRgba, flattenRgba, maskAlpha, resizeGray, resizeRgba, scaledStripes, type Gray8, type Rgba8 } from '../../shared/plugin/raster.ts';
import { maskStats, selectionToMask } from '../../shared/plugin/selection-mask.ts';

const px = (img: Rgba8, x: number, y: number): number[] => Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4));
const g = (img: Gray8, x: number, y: number): number => img.data[y * img.width + x];

test('resizing keeps flat colours exact and does not darken transparent edges', () => {
  const flat = blankRgba(37, 23, [200, 100, 50, 255]);
  for (const [w, h] of [[100, 60], [10, 7], [37, 23]]) {
    const r = resizeRgba(flat, w, h);
    assert.equal(r.width, w);
    for (let i = 0; i < r.data.length; i += 4) assert.deepEqual(Array.from(r.data.subarray(i, i + 4)), [200, 100, 50, 255]);
  }
  // Half red-opaque, half transparent black: the blended edge stays red, only alpha falls.
  const half = blankRgba(8, 1);
  for (let x = 0; x < 4; x++) half.data.set([255, 0, 0, 255], x * 4);
  const up = resizeRgba(half, 32, 4);
  for (let x = 0; x < 32; x++) {
    const p = px(up, x, 2);
    if (p[3] > 0) assert.deepEqual(p.slice(0, 3), [255, 0, 0], `x=${x}`);
  }
  const gray = resizeGray({ width: 4, height: 4, data: new Uint8Array(16).fill(128) }, 9, 3);
  assert.ok(gray.data.every((v) => v === 128));
});

test('a downscale averages areas (no aliasing of thin lines)', () => {
  const stripes = blankRgba(64, 8);
  for (let y = 0; y < 8; y++) for (let x = 0; x < 64; x++) stripes.data.set(x % 2 ? [255, 255, 255, 255] : [0, 0, 0, 255], (y * 64 + x) * 4);
  const small = resizeRgba(stripes, 8, 1);
  for (let x = 1; x < 7; x++) assert.ok(Math.abs(px(small, x, 0)[0] - 128) < 8, `x=${x}: ${px(small, x, 0)[0]}`);
});

test('selection → mask: placed at its document position, scaled, feathering kept', () => {
  // A 20×10 selection at document (120, 60); soft left edge.
  const sel: Gray8 = { width: 20, height: 10, data: new Uint8Array(200).fill(255) };
  for (let y = 0; y < 10; y++) sel.data[y * 20] = 128;
  const region = { x: 100, y: 50, width: 80, height: 40 };
  const full = selectionToMask(sel, { x: 120, y: 60, width: 20, height: 10 }, region, { width: 80, height: 40 });
  assert.equal(g(full, 19, 10), 0);
  assert.equal(g(full, 20, 10), 128);
  assert.equal(g(full, 21, 10), 255);
  assert.equal(g(full, 39, 19), 255);
  assert.equal(g(full, 40, 19), 0);
  assert.equal(g(full, 25, 20), 0);
  assert.deepEqual(maskStats(full).bounds, { x: 20, y: 10, width: 20, height: 10 });

  // Half the read size: the mask shrinks with the region.
  const half = selectionToMask(sel, { x: 120, y: 60, width: 20, height: 10 }, region, { width: 40, height: 20 });
  const st = maskStats(half, 127);
  assert.deepEqual(st.bounds, { x: 10, y: 5, width: 10, height: 5 });
  assert.equal(maskStats(selectionToMask(sel, { x: 0, y: 0, width: 20, height: 10 }, region, { width: 80, height: 40 })).bounds, null);
});

test('pose layer composited onto black at its document position', () => {
  // A 10×10 pose layer drawn at (150, 70): white square with a transparent hole.
  const layer = blankRgba(10, 10, [255, 255, 255, 255]);
  layer.data.set([0, 0, 0, 0], (5 * 10 + 5) * 4);
  const region = { x: 100, y: 50, width: 100, height: 50 };
  const out = composeControl(layer, { x: 150, y: 70, width: 10, height: 10 }, region, { width: 100, height: 50 });
  assert.deepEqual(px(out, 49, 20), [0, 0, 0, 255]);
  assert.deepEqual(px(out, 50, 20), [255, 255, 255, 255]);
  assert.deepEqual(px(out, 55, 25), [0, 0, 0, 255]); // transparent → black, not white
  assert.deepEqual(px(out, 59, 29), [255, 255, 255, 255]);
  assert.deepEqual(px(out, 60, 30), [0, 0, 0, 255]);
  // Partly outside the region: clipped, not shifted.
  const edge = composeControl(layer, { x: 95, y: 45, width: 10, height: 10 }, region, { width: 100, height: 50 });
  assert.deepEqual(px(edge, 0, 0), [0, 0, 0, 255]); // the hole, now at the region's corner
  assert.deepEqual(px(edge, 1, 0), [255, 255, 255, 255]);
  assert.deepEqual(px(edge, 4, 4), [255, 255, 255, 255]);
  assert.deepEqual(px(edge, 5, 5), [0, 0, 0, 255]);
  // Semi-transparent strokes are mixed with black.
  const faint = composeControl(blankRgba(4, 4, [255, 0, 0, 128]), { x: 100, y: 50, width: 4, height: 4 }, region, { width: 100, height: 50 });
  assert.ok(Math.abs(px(faint, 1, 1)[0] - 128) <= 1);
  assert.ok(isBlank(composeControl(null, null, region, { width: 10, height: 5 })));
  assert.ok(!isBlank(out));
});

test('flatten and mask alpha', () => {
  const img = blankRgba(2, 1, [255, 0, 0, 0]);
  img.data.set([0, 0, 255, 255], 4);
  assert.deepEqual(Array.from(flattenRgba(img, [255, 255, 255]).data), [255, 255, 255, 255, 0, 0, 255, 255]);
  const masked = maskAlpha(blankRgba(2, 1, [10, 20, 30, 255]), { width: 2, height: 1, data: Uint8Array.of(0, 128) });
  assert.deepEqual(Array.from(masked.data), [10, 20, 30, 0, 10, 20, 30, 128]);
  const canvas = blankRgba(4, 4);
  drawRgba(canvas, blankRgba(1, 1, [9, 9, 9, 255]), { x: 1.4, y: 1.6, width: 1, height: 1 });
  assert.deepEqual(px(canvas, 1, 2), [9, 9, 9, 255]);
});

test('scaled stripes add up to the whole scaled, masked image, each within its pixel cap', () => {
  const img = blankRgba(37, 23);
  for (let i = 0; i < img.data.length; i += 4) img.data.set([(i * 7) & 255, (i * 13) & 255, (i * 3) & 255, 255 - ((i >> 2) & 63)], i);
  const W = 150, H = 97;
  const alpha: Gray8 = { width: W, height: H, data: Uint8Array.from({ length: W * H }, (_v, i) => (i * 31) & 255) };
  const whole = maskAlpha(resizeRgba(img, W, H), alpha);
  const got = new Uint8Array(W * H * 4);
  let stripes = 0;
  for (const st of scaledStripes(img, W, H, alpha, 1000)) {
    assert.ok(st.pixels.width * st.pixels.height <= 1000);
    got.set(st.pixels.data, st.y * W * 4);
    stripes++;
  }
  assert.ok(stripes > 10);
  assert.deepEqual(got, whole.data);
  // Same size, no alpha: stripes are plain crops.
  const same = [...scaledStripes(img, 37, 23, null, 37 * 5)];
  assert.equal(same.length, 5);
  assert.deepEqual(same[1].pixels.data, img.data.subarray(37 * 5 * 4, 37 * 10 * 4));
});
