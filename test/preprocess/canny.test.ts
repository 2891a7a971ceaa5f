/** Canny: OpenCV-like grey/blur/Sobel steps, edges of a synthetic square where expected, thresholds and hysteresis. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cannyEdges, cannyImage, gaussianBlur5, rgbToGray, sobel3 } from '../../engine/preprocess/canny.ts';

const W = 64, H = 64;

/** Grey square [16, 48)² of value v on black. */
function square(v: number): Uint8Array {
  const g = new Uint8Array(W * H);
  for (let y = 16; y < 48; y++) for (let x = 16; x < 48; x++) g[y * W + x] = v;
  return g;
}

const count = (e: Uint8Array): number => e.reduce((n, p) => n + (p ? 1 : 0), 0);
const rowEdges = (e: Uint8Array, y: number): number[] => [...Array(W).keys()].filter((x) => e[y * W + x]);
const colEdges = (e: Uint8Array, x: number): number[] => [...Array(H).keys()].filter((y) => e[y * W + x]);

test('grey conversion uses cv2’s fixed-point BT.601 weights', () => {
  assert.deepEqual(Array.from(rgbToGray(new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 10, 20, 30]))), [76, 150, 29, 255, 18]);
});

test('5x5 Gaussian: [1 4 6 4 1]/16 separable, reflect-101 border, rounded', () => {
  const row = square(255).slice(32 * W + 12, 32 * W + 20);
  assert.deepEqual(Array.from(row), [0, 0, 0, 0, 255, 255, 255, 255]);
  const b = gaussianBlur5(square(255), W, H);
  // Across the left edge (x = 16): 255·{1, 5, 11, 15}/16 → 16, 80, 175, 239.
  assert.deepEqual(Array.from(b.slice(32 * W + 14, 32 * W + 18)), [16, 80, 175, 239]);
  // A flat image stays flat, borders included.
  assert.ok(gaussianBlur5(new Uint8Array(25).fill(77), 5, 5).every((v) => v === 77));
  // Reflect-101 at the border: a single bright first column [255, 0, 0, 0, ...] → x = 0 sees 255·6 + 0 + 0 (its mirror is x = 1 = 0).
  const edge = new Uint8Array(8 * 1);
  edge[0] = 255;
  assert.equal(gaussianBlur5(edge, 8, 1)[0], Math.round((255 * 6) / 16)); // x = −1, −2 mirror to 1, 2 (zeros)
  assert.equal(gaussianBlur5(edge, 8, 1)[1], Math.round((255 * 4) / 16));
});

test('Sobel 3x3: dx = (right − left) smoothed 1-2-1 vertically', () => {
  const b = gaussianBlur5(square(255), W, H);
  const { dx, dy } = sobel3(b, W, H);
  assert.equal(dx[32 * W + 15], (175 - 16) * 4);
  assert.equal(dx[32 * W + 16], (239 - 80) * 4);
  assert.equal(dy[32 * W + 15], 0);
});

test('edges of a white square lie on its boundary: one pixel wide, ties resolved as OpenCV', () => {
  const e = cannyEdges(gaussianBlur5(square(255), W, H), W, H, 100, 200);
  // |dx| is 636 at both x = 15 and 16; OpenCV keeps the first (m > left, m ≥ right): outside on the left/top,
  // inside on the right/bottom (x = 47, where the equal neighbour is 48).
  assert.deepEqual(rowEdges(e, 32), [15, 47]);
  assert.deepEqual(colEdges(e, 32), [15, 47]);
  // Exactly on the outline away from the corners (which NMS rounds off), within a pixel of it everywhere.
  const dist = (x: number, y: number): number => {
    const inside = x >= 15 && x <= 47 && y >= 15 && y <= 47;
    const d = Math.min(Math.abs(x - 15), Math.abs(x - 47), Math.abs(y - 15), Math.abs(y - 47));
    return inside ? d : Math.max(15 - x, x - 47, 15 - y, y - 47);
  };
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (!e[y * W + x]) continue;
      const nearCorner = (Math.abs(x - 15) <= 4 || Math.abs(x - 47) <= 4) && (Math.abs(y - 15) <= 4 || Math.abs(y - 47) <= 4);
      assert.ok(dist(x, y) <= (nearCorner ? 1 : 0), `edge at (${x}, ${y})`);
    }
  }
  for (let t = 20; t <= 42; t++) assert.deepEqual([e[15 * W + t], e[47 * W + t], e[t * W + 15], e[t * W + 47]], [255, 255, 255, 255]);
});

test('thresholds matter: a low-contrast square (edge magnitude 100, corners up to 130)', () => {
  const b = gaussianBlur5(square(40), W, H);
  const { dx } = sobel3(b, W, H);
  assert.equal(Math.abs(dx[32 * W + 15]), 100);
  // high above every magnitude: no edges.
  assert.equal(count(cannyEdges(b, W, H, 50, 150)), 0);
  // high just below the side magnitude: the full outline.
  const full = cannyEdges(b, W, H, 20, 99);
  assert.deepEqual(rowEdges(full, 32), [15, 47]);
  // Hysteresis: high = 120 makes only the corners strong, low = 20 lets the sides (100) join through them...
  assert.deepEqual(cannyEdges(b, W, H, 20, 120), full);
  // ...but with low above the sides, only isolated corner pixels remain.
  const corners = cannyEdges(b, W, H, 101, 120);
  assert.ok(count(corners) > 0 && count(corners) <= 24, `${count(corners)}`);
  assert.deepEqual(rowEdges(corners, 32), []);
  // low > high is swapped, as cv2.Canny does.
  assert.deepEqual(cannyEdges(b, W, H, 99, 20), full);
});

test('cannyImage: RGBA in, white-on-black opaque RGBA out at the target size', () => {
  const img = new Uint8Array(W * H * 4);
  const g = square(255);
  for (let i = 0; i < W * H; i++) img.set([g[i], g[i], g[i], 255], i * 4);
  const out = cannyImage({ width: W, height: H, data: img }, W, H, { low: 100, high: 200 });
  assert.equal(out.data.length, W * H * 4);
  const o = (32 * W + 15) * 4;
  assert.deepEqual(Array.from(out.data.subarray(o, o + 4)), [255, 255, 255, 255]);
  assert.deepEqual(Array.from(out.data.subarray(o + 8, o + 12)), [0, 0, 0, 255]);
  // Resized to 32x32 first: the outline moves with the square.
  const small = cannyImage({ width: W, height: H, data: img }, 32, 32, { low: 100, high: 200 });
  const lit = [...Array(32).keys()].filter((x) => small.data[(16 * 32 + x) * 4] === 255);
  assert.deepEqual(lit, [7, 23]);
  // Defaults are 100 / 200.
  assert.deepEqual(cannyImage({ width: W, height: H, data: img }, W, H).data, out.data);
});
