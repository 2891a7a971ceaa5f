/** Bounds maths: rectangles, padding, pyramid levels, regions per mode, sizes under the pixel budget. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  boundsToRect, chooseRegion, contextPadding, fitWithin, intersectRect, levelBoundsToDocument, padRect, placeInRead, planSizes, rectToBounds, scaledSize,
} from '../../shared/plugin/region.ts';

test('bounds and rects convert both ways; fractional bounds widen to whole pixels', () => {
  assert.deepEqual(boundsToRect({ left: 10, top: 20, right: 110, bottom: 70 }), { x: 10, y: 20, width: 100, height: 50 });
  assert.deepEqual(rectToBounds({ x: 10, y: 20, width: 100, height: 50 }), { left: 10, top: 20, right: 110, bottom: 70 });
  assert.deepEqual(boundsToRect({ left: 10.4, top: 19.6, right: 20.2, bottom: 30 }), { x: 10, y: 19, width: 11, height: 11 });
  assert.deepEqual(boundsToRect({ left: 5, top: 5, right: 5, bottom: 9 }), { x: 5, y: 5, width: 0, height: 4 });
});

test('intersection and padding clip to the canvas', () => {
  assert.deepEqual(intersectRect({ x: 0, y: 0, width: 10, height: 10 }, { x: 5, y: 8, width: 10, height: 10 }), { x: 5, y: 8, width: 5, height: 2 });
  assert.equal(intersectRect({ x: 0, y: 0, width: 10, height: 10 }, { x: 10, y: 0, width: 5, height: 5 }), null);
  assert.deepEqual(padRect({ x: 10, y: 10, width: 20, height: 20 }, 16, { width: 100, height: 40 }), { x: 0, y: 0, width: 46, height: 40 });
  assert.deepEqual(padRect({ x: 50, y: 10, width: 20, height: 10 }, 5, { width: 100, height: 100 }), { x: 45, y: 5, width: 30, height: 20 });
});

test('pyramid-level bounds scale back to document pixels', () => {
  assert.deepEqual(levelBoundsToDocument({ left: 25, top: 10, right: 75, bottom: 60 }, 0), { x: 25, y: 10, width: 50, height: 50 });
  assert.deepEqual(levelBoundsToDocument({ left: 25, top: 10, right: 75, bottom: 60 }, 2), { x: 100, y: 40, width: 200, height: 200 });
});

test('context padding: fixed, or automatic 20% of the larger side within 32–512', () => {
  assert.equal(contextPadding({ x: 0, y: 0, width: 100, height: 50 }, 12), 12);
  assert.equal(contextPadding({ x: 0, y: 0, width: 100, height: 50 }, -1), 32);
  assert.equal(contextPadding({ x: 0, y: 0, width: 1000, height: 500 }, -1), 200);
  assert.equal(contextPadding({ x: 0, y: 0, width: 6000, height: 4000 }, -1), 512);
});

test('regions per mode', () => {
  const canvas = { width: 800, height: 600 };
  const sel = { x: 100, y: 100, width: 200, height: 100 };
  assert.deepEqual(chooseRegion('canvas', canvas, sel), { ok: true, region: { x: 0, y: 0, width: 800, height: 600 }, selection: sel });
  assert.deepEqual(chooseRegion('img2img', canvas, null), { ok: true, region: { x: 0, y: 0, width: 800, height: 600 }, selection: null });
  assert.deepEqual(chooseRegion('img2img', canvas, sel), { ok: true, region: sel, selection: sel });
  const inpaint = chooseRegion('inpaint', canvas, sel, -1);
  assert.ok(inpaint.ok);
  assert.deepEqual(inpaint.region, { x: 60, y: 60, width: 280, height: 180 }); // 20% of 200 = 40 px around
  const noSel = chooseRegion('inpaint', canvas, null);
  assert.ok(!noSel.ok && /selection/i.test(noSel.reason));
  // A selection partly off the canvas is clipped; one fully off is refused.
  const off = chooseRegion('img2img', canvas, { x: 700, y: 500, width: 300, height: 300 });
  assert.ok(off.ok && off.region.width === 100 && off.region.height === 100);
  assert.ok(!chooseRegion('inpaint', canvas, { x: 900, y: 0, width: 10, height: 10 }).ok);
});

test('sizes: a big region is read at the generation size (multiples of 8, in budget); a small one at its own size', () => {
  const big = planSizes({ x: 0, y: 0, width: 6000, height: 4000 }, 512 * 512, 1024 * 1024);
  assert.equal(big.generation.width % 8, 0);
  assert.equal(big.generation.height % 8, 0);
  assert.ok(big.generation.width * big.generation.height <= 512 * 512 * 1.05);
  assert.ok(Math.abs(big.generation.width / big.generation.height - 1.5) < 0.03);
  assert.deepEqual(big.read, big.generation);

  const small = planSizes({ x: 10, y: 10, width: 300, height: 200 }, 512 * 512, 1024 * 1024);
  assert.deepEqual(small.read, { width: 300, height: 200 });
  assert.ok(small.generation.width >= 300 && small.generation.height >= 200);

  // The daemon's budget wins over the panel's size setting.
  const capped = planSizes({ x: 0, y: 0, width: 4000, height: 4000 }, 1024 * 1024, 256 * 256);
  assert.ok(capped.generation.width * capped.generation.height <= 256 * 256);
});

test('placement of document rects in a read image', () => {
  const region = { x: 100, y: 50, width: 400, height: 200 };
  const read = { width: 200, height: 100 };
  assert.deepEqual(placeInRead({ x: 100, y: 50, width: 400, height: 200 }, region, read), { x: 0, y: 0, width: 200, height: 100 });
  assert.deepEqual(placeInRead({ x: 300, y: 150, width: 40, height: 20 }, region, read), { x: 100, y: 50, width: 20, height: 10 });
  assert.deepEqual(scaledSize({ x: 0, y: 0, width: 41, height: 21 }, region, read), { width: 21, height: 11 });
  assert.deepEqual(fitWithin({ width: 4000, height: 2000 }, 1024), { width: 1024, height: 512 });
  assert.deepEqual(fitWithin({ width: 300, height: 200 }, 1024), { width: 300, height: 200 });
});
