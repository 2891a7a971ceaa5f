/** 8/16/32-bit and profile conversion, against published reference values. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  baseProfileName, convertColor, findProfile, fromSrgb8, linearToSrgb, PROFILES, PS16_MAX, srgbToLinear, toSrgb8,
} from '../../shared/plugin/color-convert.ts';

const SRGB = PROFILES[0];
const ADOBE = findProfile('Adobe RGB (1998)')!;
const P3 = findProfile('Display P3')!;
const PROPHOTO = findProfile('ProPhoto RGB')!;

test('profile names: Photoshop spellings and the 32-bit "(Linear RGB Profile)" suffix', () => {
  assert.equal(findProfile('sRGB IEC61966-2.1'), SRGB);
  assert.equal(findProfile('sRGB IEC61966-2.1 (Linear RGB Profile)'), SRGB);
  assert.equal(baseProfileName('Adobe RGB (1998) (Linear RGB Profile)'), 'Adobe RGB (1998)');
  assert.equal(findProfile('Adobe RGB (1998)'), ADOBE);
  assert.equal(findProfile('ProPhoto RGB'), PROPHOTO);
  assert.equal(findProfile('My Camera Profile v2'), null);
  assert.equal(findProfile(''), null);
});

test('sRGB curve round trip', () => {
  for (let v = 0; v <= 255; v++) assert.equal(Math.round(linearToSrgb(srgbToLinear(v / 255)) * 255), v);
});

test('matrix conversions match published values', () => {
  // sRGB primaries expressed in Adobe RGB (1998): red ≈ (219, 0, 0), green ≈ (144, 255, 60), blue ≈ (0, 0, 250).
  const close = (a: number[], b: number[], tol = 1.5): void => a.forEach((v, i) => assert.ok(Math.abs(v * 255 - b[i]) <= tol, `${a.map((x) => Math.round(x * 255))} vs ${b}`));
  close(convertColor([1, 0, 0], SRGB, ADOBE), [219, 0, 0]);
  close(convertColor([0, 1, 0], SRGB, ADOBE), [144, 255, 60], 2);
  close(convertColor([0, 0, 1], SRGB, ADOBE), [0, 0, 250], 2);
  // sRGB red in Display P3 ≈ (0.9175, 0.2003, 0.1386).
  close(convertColor([1, 0, 0], SRGB, P3), [234, 51, 35]);
  // White and grey stay neutral everywhere (D65 ↔ D50 adaptation included).
  for (const p of [ADOBE, P3, PROPHOTO]) {
    close(convertColor([1, 1, 1], SRGB, p), [255, 255, 255], 0.6);
    const grey = convertColor([0.5, 0.5, 0.5], SRGB, p);
    assert.ok(Math.abs(grey[0] - grey[1]) < 0.003 && Math.abs(grey[1] - grey[2]) < 0.003, `${p.name}: ${grey}`);
  }
  // Round trip through a wider gamut is exact to 8 bits.
  for (const c of [[0.2, 0.4, 0.6], [0.9, 0.1, 0.3], [0, 0, 0]] as Array<[number, number, number]>) {
    const back = convertColor(convertColor(c, SRGB, PROPHOTO), PROPHOTO, SRGB);
    back.forEach((v, i) => assert.ok(Math.abs(v - c[i]) < 1 / 510, `${c} → ${back}`));
  }
});

test('16-bit (0..32768) sRGB → 8-bit, with and without alpha', () => {
  const d = Uint16Array.of(0, PS16_MAX / 2, PS16_MAX, PS16_MAX, 128, 129, 32640, 0);
  const out = toSrgb8(d, { width: 2, height: 1, components: 4, componentSize: 16, profile: SRGB });
  assert.deepEqual(Array.from(out.data), [0, 128, 255, 255, 1, 1, 254, 0]);
  const rgb = toSrgb8(Uint16Array.of(PS16_MAX, 0, 0), { width: 1, height: 1, components: 3, componentSize: 16, profile: SRGB });
  assert.deepEqual(Array.from(rgb.data), [255, 0, 0, 255]);
  // fullRange data (0..65535) when a host says so.
  const full = toSrgb8(Uint16Array.of(65535, 32768, 0), { width: 1, height: 1, components: 3, componentSize: 16, profile: SRGB, fullRange: true });
  assert.deepEqual(Array.from(full.data), [255, 128, 0, 255]);
});

test('16-bit Adobe RGB document pixels → sRGB 8-bit', () => {
  // Adobe RGB (219, 0, 0)/255 at 16 bits is sRGB red; Adobe white is white.
  const v = Math.round((219 / 255) * PS16_MAX);
  const out = toSrgb8(Uint16Array.of(v, 0, 0, PS16_MAX, PS16_MAX, PS16_MAX, PS16_MAX, PS16_MAX), { width: 2, height: 1, components: 4, componentSize: 16, profile: ADOBE });
  assert.ok(out.data[0] >= 253 && out.data[1] <= 3 && out.data[2] <= 3, `${out.data.subarray(0, 3)}`);
  assert.deepEqual(Array.from(out.data.subarray(4)), [255, 255, 255, 255]);
});

test('32-bit linear → 8-bit sRGB; out-of-range HDR values clip', () => {
  const out = toSrgb8(Float32Array.of(srgbToLinear(128 / 255), srgbToLinear(64 / 255), 2.5, 1, -0.1, 0, 1, 0.5), { width: 2, height: 1, components: 4, componentSize: 32, profile: SRGB });
  assert.deepEqual(Array.from(out.data), [128, 64, 255, 255, 0, 0, 255, 128]);
});

test('8-bit sRGB → 16-bit and 32-bit documents and back is lossless', () => {
  const img = { width: 256, height: 1, data: new Uint8Array(256 * 4) };
  for (let v = 0; v < 256; v++) img.data.set([v, 255 - v, (v * 7) & 255, v], v * 4);
  const d16 = fromSrgb8(img, { componentSize: 16, profile: null }) as Uint16Array;
  assert.ok(d16 instanceof Uint16Array);
  assert.equal(d16[255 * 4], PS16_MAX);
  assert.deepEqual(toSrgb8(d16, { width: 256, height: 1, components: 4, componentSize: 16, profile: SRGB }).data, img.data);
  const d32 = fromSrgb8(img, { componentSize: 32, profile: null }) as Float32Array;
  assert.ok(Math.abs(d32[128 * 4] - srgbToLinear(128 / 255)) < 1e-6, 'linear light');
  assert.deepEqual(toSrgb8(d32, { width: 256, height: 1, components: 4, componentSize: 32, profile: SRGB }).data, img.data);
  // Through a document profile (Adobe RGB, 16-bit): back to the same sRGB codes.
  const a16 = fromSrgb8(img, { componentSize: 16, profile: ADOBE });
  const back = toSrgb8(a16, { width: 256, height: 1, components: 4, componentSize: 16, profile: ADOBE }).data;
  for (let i = 0; i < back.length; i++) assert.ok(Math.abs(back[i] - img.data[i]) <= 1, `i=${i}: ${back[i]} vs ${img.data[i]}`);
  // 8-bit sRGB into an 8-bit sRGB document needs no copy.
  assert.equal(fromSrgb8(img, { componentSize: 8, profile: SRGB }), img.data);
});
