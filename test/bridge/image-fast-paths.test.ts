/**
 * The daemon's fast image paths give the same pixels as the straightforward ones: pasting back through
 * a mask with row copies (and into the patch's own buffer), decoding untagged sRGB PNGs without the
 * colour transform, enlarging with bilinear.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { MaskImage, RgbaImage } from '../../engine/api.ts';
import { decodePixels, pasteBack, resize, type Rect } from '../../bridge/image.ts';

/** The per-pixel definition: patch·a + base·(255 − a), rounded, outside the rect untouched. */
function reference(base: RgbaImage, patch: RgbaImage, rect: Rect, mask?: MaskImage): Uint8Array {
  const out = new Uint8Array(base.data);
  for (let y = 0; y < rect.height; y++) {
    for (let x = 0; x < rect.width; x++) {
      const a = mask ? mask.data[y * rect.width + x] : 255;
      const o = ((rect.y + y) * base.width + rect.x + x) * 4;
      const s = (y * rect.width + x) * 4;
      for (let c = 0; c < 4; c++) out[o + c] = (patch.data[s + c] * a + out[o + c] * (255 - a) + 127) / 255;
    }
  }
  return out;
}

test('pasteBack matches the per-pixel blend, with a copy or in the patch buffer', () => {
  let seed = 5;
  const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
  for (let t = 0; t < 150; t++) {
    const W = 1 + (rnd() % 40), H = 1 + (rnd() % 30);
    const base = { width: W, height: H, data: Uint8Array.from({ length: W * H * 4 }, rnd) };
    const rw = 1 + (rnd() % W), rh = 1 + (rnd() % H);
    const rect = t % 3 === 0 ? { x: 0, y: 0, width: W, height: H } : { x: rnd() % (W - rw + 1), y: rnd() % (H - rh + 1), width: rw, height: rh };
    const patch = { width: rect.width, height: rect.height, data: Uint8Array.from({ length: rect.width * rect.height * 4 }, rnd) };
    // Runs of 0 and 255 with soft values between, like a selection's edge.
    const mask = t % 5 === 4 ? undefined : { width: rect.width, height: rect.height, data: Uint8Array.from({ length: rect.width * rect.height }, () => { const r = rnd(); return r < 90 ? 0 : r < 180 ? 255 : r; }) };
    const want = reference(base, patch, rect, mask);
    const baseBefore = new Uint8Array(base.data);
    assert.deepEqual(pasteBack(base, patch, rect, mask).data, want, `case ${t}`);
    const own = { ...patch, data: new Uint8Array(patch.data) };
    const reused = pasteBack(base, own, rect, mask, { reusePatch: true });
    assert.deepEqual(reused.data, want, `case ${t} (reusePatch)`);
    assert.deepEqual(base.data, baseBefore, 'the base is never written');
    if (rect.width === W && rect.height === H && mask) assert.equal(reused.data, own.data, 'whole-image paste reuses the patch buffer');
  }
});

test('an untagged 8-bit sRGB PNG decodes to exactly its pixels; a tagged one is still converted', async () => {
  const W = 64;
  const d = Uint8Array.from({ length: W * W * 4 }, (_, i) => (i * 7919 + (i >> 3) * 31) & 0xff);
  const png = await sharp(d, { raw: { width: W, height: W, channels: 4 } }).png().toBuffer();
  const px = await decodePixels(png, 'png', W, W, { premultiplied: false, maxPixels: 1 << 20 });
  assert.deepEqual(new Uint8Array(px.data), d);
  const rgb = await sharp(d, { raw: { width: W, height: W, channels: 4 } }).removeAlpha().png().toBuffer();
  const px3 = await decodePixels(rgb, 'png', W, W, { premultiplied: false, maxPixels: 1 << 20 });
  assert.equal(px3.channels, 4);
  assert.equal(px3.data[3], 255, 'alpha added');
  const gray = await sharp(d, { raw: { width: W, height: W, channels: 4 } }).toColourspace('b-w').png().toBuffer();
  const pxg = await decodePixels(gray, 'png', W, W, { premultiplied: false, maxPixels: 1 << 20 });
  assert.equal(pxg.channels, 4, 'gray becomes RGBA');
  assert.equal(pxg.data[0], pxg.data[1]);
  const p3 = await sharp(d, { raw: { width: W, height: W, channels: 4 } }).withIccProfile('p3').png().toBuffer();
  const pxp3 = await decodePixels(p3, 'png', W, W, { premultiplied: false, maxPixels: 1 << 20 });
  assert.notDeepEqual(new Uint8Array(pxp3.data), d, 'Display P3 pixels are converted to sRGB');
});

test('enlarging stays close to the Lanczos/cubic result; shrinking still anti-aliases', async () => {
  const W = 64;
  const src = { width: W, height: W, data: Uint8Array.from({ length: W * W * 4 }, (_, i) => ((i & 3) === 3 ? 255 : ((i >> 2) % W) * 4)) };
  const up = await resize(src, 256, 256);
  const lanczos = await sharp(src.data, { raw: { width: W, height: W, channels: 4 } }).resize(256, 256, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
  let se = 0;
  for (let i = 0; i < lanczos.length; i++) se += (up.data[i] - lanczos[i]) ** 2;
  const psnr = 10 * Math.log10((255 * 255) / (se / lanczos.length));
  assert.ok(psnr > 40, `PSNR ${psnr.toFixed(1)} dB`);
  const down = await resize(src, 16, 16);
  assert.equal(down.width, 16);
});
