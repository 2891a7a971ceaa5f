import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { RgbaImage } from '../../engine/api.ts';
import { validateJob } from '../../shared/protocol/validate.ts';
import {
  crop, decodePixels, featherMask, fitToGrid, flatten, maskBounds, padRect, pasteBack, resize, toMask, unpremultiplyInPlace,
} from '../../bridge/image.ts';
import { finishImages, generationSize, prepareJob } from '../../bridge/pipeline.ts';
import { jobFamily } from '../../bridge/models/families.ts';
import { renderKeypoints } from '../../engine/preprocess/control.ts';
const renderPose = (kp: object, w: number, h: number) => renderKeypoints(kp, w, h).image;

const BIG = 1 << 26;

function solid(w: number, h: number, c: [number, number, number, number]): RgbaImage {
  const d = new Uint8Array(w * h * 4);
  for (let i = 0; i < d.length; i += 4) d.set(c, i);
  return { width: w, height: h, data: d };
}

function noise(w: number, h: number): RgbaImage {
  const d = new Uint8Array(w * h * 4);
  for (let i = 0; i < d.length; i++) d[i] = (i * 7919 + (i >> 3) * 31) & 0xff;
  for (let i = 3; i < d.length; i += 4) d[i] = 255;
  return { width: w, height: h, data: d };
}

const px = (img: { width: number; data: Uint8Array }, x: number, y: number): number[] => [...img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4)];

test('un-premultiply restores straight colour; transparent pixels become transparent black', () => {
  // (200,100,50) at alpha 128 premultiplied ≈ (100,50,25,128)
  const d = new Uint8Array([100, 50, 25, 128, 9, 9, 9, 0, 10, 20, 30, 255, 255, 255, 255, 64]);
  unpremultiplyInPlace(d);
  assert.deepEqual([...d.subarray(0, 4)], [199, 100, 50, 128]);
  assert.deepEqual([...d.subarray(4, 8)], [0, 0, 0, 0]);
  assert.deepEqual([...d.subarray(8, 12)], [10, 20, 30, 255]);
  assert.deepEqual([...d.subarray(12, 16)], [255, 255, 255, 64], 'clamped, never over 255');
});

test('raw frames decode in place, un-premultiplied only when flagged', async () => {
  const payload = new Uint8Array([100, 50, 25, 128]);
  const straight = await decodePixels(new Uint8Array(payload), 'raw-rgba8', 1, 1, { premultiplied: false, maxPixels: BIG });
  assert.deepEqual([...straight.data], [100, 50, 25, 128]);
  const pm = await decodePixels(payload, 'raw-rgba8', 1, 1, { premultiplied: true, maxPixels: BIG });
  assert.equal(pm.data, payload, 'no copy');
  assert.deepEqual([...pm.data], [199, 100, 50, 128]);
  await assert.rejects(decodePixels(new Uint8Array(16), 'raw-rgba8', 4, 4, { premultiplied: false, maxPixels: 8 }), /input limit/);
});

test('flatten composites over the role background', () => {
  const img = { width: 2, height: 1, channels: 4 as const, data: new Uint8Array([255, 0, 0, 255, 255, 0, 0, 0]) };
  assert.deepEqual([...flatten(img, [255, 255, 255]).data], [255, 0, 0, 255, 255, 255, 255, 255]);
  assert.deepEqual([...flatten(img, [0, 0, 0]).data], [255, 0, 0, 255, 0, 0, 0, 255]);
  const half = { width: 1, height: 1, channels: 4 as const, data: new Uint8Array([200, 200, 200, 128]) };
  assert.deepEqual([...flatten(half, [0, 0, 0]).data], [100, 100, 100, 255]);
});

test('16-bit PNG with a Display P3 profile decodes to 8-bit sRGB', async () => {
  // Pure sRGB red, stored as a 16-bit PNG in Display P3 (where it is about (234, 51, 35)).
  const png = await sharp(Buffer.from(solid(8, 8, [255, 0, 0, 255]).data), { raw: { width: 8, height: 8, channels: 4 } })
    .toColourspace('rgb16').withIccProfile('p3').png().toBuffer();
  const meta = await sharp(png).metadata();
  assert.equal(meta.depth, 'ushort');
  assert.ok(meta.icc, 'has an embedded profile');
  const p3Values = await sharp(png).keepIccProfile().raw({ depth: 'uchar' }).toBuffer();
  assert.ok(p3Values[0] < 245 && p3Values[1] > 20, `stored values are P3, not sRGB: ${[...p3Values.subarray(0, 3)]}`);
  const img = await decodePixels(png, 'png', 0, 0, { premultiplied: false, maxPixels: BIG });
  assert.equal(img.channels, 4);
  assert.equal(img.data.length, 8 * 8 * 4, '8 bits per channel');
  const [r, g, b, a] = px(img, 3, 3);
  assert.ok(r >= 250 && g <= 8 && b <= 8 && a === 255, `sRGB red back, got ${[r, g, b, a]}`);
});

test('PNG header size must match, garbage is refused', async () => {
  const png = await sharp(Buffer.from(noise(6, 4).data), { raw: { width: 6, height: 4, channels: 4 } }).png().toBuffer();
  assert.equal((await decodePixels(png, 'png', 6, 4, { premultiplied: false, maxPixels: BIG })).width, 6);
  await assert.rejects(decodePixels(png, 'png', 5, 4, { premultiplied: false, maxPixels: BIG }), /header says 5x4/);
  await assert.rejects(decodePixels(new Uint8Array(64), 'png', 0, 0, { premultiplied: false, maxPixels: BIG }), /not a PNG/);
  const broken = new Uint8Array(png.subarray(0, 40));
  await assert.rejects(decodePixels(broken, 'png', 0, 0, { premultiplied: false, maxPixels: BIG }), /cannot decode/);
  await assert.rejects(decodePixels(png, 'png', 0, 0, { premultiplied: false, maxPixels: 10 }), /cannot decode/);
});

test('masks: gray as is, RGBA as luminance times alpha, invert', () => {
  const rgba = { width: 3, height: 1, channels: 4 as const, data: new Uint8Array([255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 255]) };
  assert.deepEqual([...toMask(rgba).data], [255, 0, 0]);
  assert.deepEqual([...toMask(rgba, true).data], [0, 255, 255]);
  const gray = { width: 2, height: 1, channels: 1 as const, data: new Uint8Array([0, 200]) };
  assert.equal(toMask(gray).data, gray.data);
});

test('feathered mask: solid inside, zero far outside, a monotonic ramp across the edge', async () => {
  const w = 64;
  const hard = { width: w, height: w, data: new Uint8Array(w * w) };
  for (let y = 16; y < 48; y++) for (let x = 16; x < 48; x++) hard.data[y * w + x] = 255;
  const soft = await featherMask(hard, 8);
  const at = (x: number, y: number) => soft.data[y * w + x];
  assert.ok(at(32, 32) >= 250, `centre ${at(32, 32)}`);
  assert.equal(at(2, 2), 0);
  const row = Array.from({ length: 24 }, (_, i) => at(4 + i, 32));
  for (let i = 1; i < row.length; i++) assert.ok(row[i] >= row[i - 1], `ramp not monotonic: ${row}`);
  assert.ok(at(16, 32) > 60 && at(16, 32) < 200, `edge is half-way: ${at(16, 32)}`);
  assert.equal(await featherMask(hard, 0), hard);
});

test('crop with padding, resize to the grid and back, paste back: outside the region is untouched', async () => {
  const base = noise(100, 60);
  const mask = { width: 100, height: 60, data: new Uint8Array(100 * 60) };
  for (let y = 20; y < 30; y++) for (let x = 40; x < 55; x++) mask.data[y * 100 + x] = 255;
  const b = maskBounds(mask)!;
  assert.deepEqual(b, { x: 40, y: 20, width: 15, height: 10 });
  assert.equal(maskBounds({ width: 2, height: 2, data: new Uint8Array(4) }), null);
  const region = padRect(b, 25, 100, 60);
  assert.deepEqual(region, { x: 15, y: 0, width: 65, height: 55 }, 'clipped at the top');

  const cut = crop(base, region);
  assert.deepEqual(px(cut, 0, 0), px(base, 15, 0));
  assert.deepEqual(px(cut, 64, 54), px(base, 79, 54));
  const grid = fitToGrid(region.width, region.height, 512 * 512, 1024 * 1024);
  assert.ok(grid.width % 8 === 0 && grid.height % 8 === 0);
  const up = await resize(cut, grid.width, grid.height);
  const back = await resize(up, region.width, region.height);
  assert.equal(back.data.length, cut.data.length);

  const patch = solid(region.width, region.height, [1, 2, 3, 255]);
  const hardPaste = pasteBack(base, patch, region);
  assert.deepEqual(px(hardPaste, 15, 0), [1, 2, 3, 255]);
  assert.deepEqual(px(hardPaste, 14, 0), px(base, 14, 0));
  assert.deepEqual(px(hardPaste, 80, 10), px(base, 80, 10));

  const regionMask = crop(mask, region);
  const masked = pasteBack(base, patch, region, regionMask);
  assert.deepEqual(px(masked, 45, 25), [1, 2, 3, 255], 'inside the mask: the patch');
  assert.deepEqual(px(masked, 20, 5), px(base, 20, 5), 'in the region but outside the mask: the original');
  assert.notEqual(base.data, masked.data);
});

test('fitToGrid keeps the aspect, stays on the grid and under the budget', () => {
  assert.deepEqual(fitToGrid(100, 50, 512 * 512, 1 << 20), { width: 728, height: 360 });
  assert.deepEqual(fitToGrid(4000, 3000, 512 * 512, 1 << 20), { width: 592, height: 440 });
  const tight = fitToGrid(1000, 1000, 1 << 20, 300 * 300);
  assert.ok(tight.width * tight.height <= 300 * 300 && tight.width % 8 === 0);
  assert.deepEqual(fitToGrid(10, 1000, 512 * 512, 1 << 20).width, 64, 'never below 64');
});

test('pose keypoints are drawn as a coloured skeleton on black', () => {
  const k = new Array(54).fill(0);
  const set = (i: number, x: number, y: number) => { k[i * 3] = x; k[i * 3 + 1] = y; k[i * 3 + 2] = 1; };
  set(0, 50, 20); set(1, 50, 40); set(2, 35, 40); set(5, 65, 40); set(8, 42, 80); set(11, 58, 80);
  const img = renderPose({ canvas_width: 100, canvas_height: 100, people: [{ pose_keypoints_2d: k }] }, 200, 200);
  assert.deepEqual(px(img, 100, 80), [255, 85, 0, 255], 'neck joint (COCO colour 1) scaled x2');
  assert.deepEqual(px(img, 5, 5), [0, 0, 0, 255]);
  const lit = img.data.filter((v, i) => i % 4 !== 3 && v > 0).length;
  assert.ok(lit > 500, 'limbs drawn');
  const normalised = renderPose({ canvas_width: 1, canvas_height: 1, people: [{ pose_keypoints_2d: k.map((v, i) => (i % 3 === 2 ? v : v / 100)) }] }, 200, 200);
  assert.deepEqual(px(normalised, 100, 80), [255, 85, 0, 255], '0-1 coordinates work too');
});

test('pipeline: inpaint with crop-to-mask generates the selection only and pastes it back', async () => {
  const init = { ...noise(300, 200), channels: 4 as const };
  const maskData = new Uint8Array(300 * 200);
  for (let y = 50; y < 100; y++) for (let x = 100; x < 180; x++) maskData[y * 300 + x] = 255;
  const job = validateJob({ type: 'job', jobId: 'p', prompt: 'x', init: { source: 'frame' }, mask: { source: 'frame', crop: true, padding: 10, feather: 4 } });
  assert.ok(job.ok);
  const prep = await prepareJob(job.value, {
    init, mask: { width: 300, height: 200, channels: 1, data: maskData }, references: [], controls: [], hashes: { references: [], controls: [] },
  }, { maxPixels: 1 << 20, seed: 7 });
  assert.deepEqual(prep.region, { x: 86, y: 36, width: 108, height: 78 });
  const rp = prep.request.params;
  assert.ok(rp.width % 8 === 0 && rp.height % 8 === 0 && rp.seed === 7);
  assert.equal(prep.request.init!.width, rp.width);
  assert.equal(prep.request.mask!.data.length, rp.width * rp.height);
  const [out] = await finishImages(prep, [solid(rp.width, rp.height, [0, 255, 0, 255])]);
  assert.equal(out.width, 300);
  assert.deepEqual(px(out, 140, 75), [0, 255, 0, 255]);
  assert.deepEqual(px(out, 10, 10), px(init, 10, 10));
  assert.deepEqual(px(out, 90, 40), px(init, 90, 40), 'inside the padded region but outside the feathered mask');

  const empty = await prepareJob(job.value, { init, mask: { width: 300, height: 200, channels: 1, data: new Uint8Array(300 * 200) }, references: [], controls: [], hashes: { references: [], controls: [] } }, { maxPixels: 1 << 20, seed: 1 })
    .then(() => null, (e: Error & { field?: string }) => e);
  assert.equal(empty?.field, 'mask');
});

test('pipeline: reference masks are cut and sized like the init, checked, and recorded by hash', async () => {
  const half = (w: number, h: number, left: boolean): { width: number; height: number; channels: 1; data: Uint8Array } => {
    const data = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = (x < w / 2) === left ? 255 : 0;
    return { width: w, height: h, channels: 1, data };
  };
  const ref = { ...noise(40, 40), channels: 4 as const };
  const hashes = { references: ['a'.repeat(64), 'b'.repeat(64)], controls: [], referenceMasks: ['c'.repeat(64), 'd'.repeat(64)] };
  const prepare = (job: unknown, masks: Array<ReturnType<typeof half>>, init?: RgbaImage) => {
    const v = validateJob(job);
    assert.ok(v.ok, JSON.stringify(!v.ok && v.error));
    return prepareJob(v.value, { ...(init ? { init: { ...init, channels: 4 as const } } : {}), references: [ref, ref], controls: [], referenceMasks: masks, hashes }, { maxPixels: 1 << 20, seed: 3 });
  };
  const twoRefs = (extra: object = {}) => ({
    type: 'job', jobId: 'r', prompt: 'x', width: 96, height: 64, ...extra,
    references: [{ source: 'frame', mask: { source: 'frame' } }, { source: 'frame', mask: { source: 'frame', invert: true } }],
  });

  // Text to image: any size with the output's aspect; resized to the generation size; invert honoured.
  const prep = await prepare(twoRefs(), [half(48, 32, true), half(48, 32, true)]);
  const [left, right] = prep.request.references.map((r) => r.mask!);
  assert.deepEqual([left.width, left.height], [96, 64]);
  assert.deepEqual([left.data[10 * 96 + 5], left.data[10 * 96 + 90]], [255, 0], 'left half inside');
  assert.deepEqual([right.data[10 * 96 + 5], right.data[10 * 96 + 90]], [0, 255], 'inverted: right half inside');

  // Wrong shape, empty, missing: the error names the reference's mask.
  const field = (p: Promise<unknown>) => p.then(() => null, (e: Error & { field?: string }) => `${e.field}: ${e.message}`);
  assert.match(await field(prepare(twoRefs(), [half(64, 64, true), half(48, 32, true)])) ?? '', /^references\[0\]\.mask: the mask is 64x64, another shape than the 96x64 image/);
  assert.match(await field(prepare(twoRefs(), [half(48, 32, true), { ...half(48, 32, true), data: new Uint8Array(48 * 32).fill(255) }])) ?? '', /^references\[1\]\.mask: the mask selects nothing/);
  assert.match(await field(prepare(twoRefs(), [half(48, 32, true)])) ?? '', /^references\[1\]\.mask: the mask image is missing/);

  // With an init the mask has the init's size and is cut to the generated region like the init.
  const init = noise(300, 200);
  const inpaint = { init: { source: 'frame' }, mask: { source: 'frame', crop: true, padding: 0, feather: 0 }, width: undefined, height: undefined };
  const sel = new Uint8Array(300 * 200);
  for (let y = 40; y < 120; y++) for (let x = 100; x < 220; x++) sel[y * 300 + x] = 255;
  const v = validateJob(twoRefs(inpaint));
  assert.ok(v.ok);
  const cut = await prepareJob(v.value, { init: { ...init, channels: 4 }, mask: { width: 300, height: 200, channels: 1, data: sel }, references: [ref, ref], controls: [], referenceMasks: [half(300, 200, true), half(300, 200, true)], hashes }, { maxPixels: 1 << 20, seed: 3 });
  assert.deepEqual(cut.region, { x: 100, y: 40, width: 120, height: 80 });
  const m0 = cut.request.references[0].mask!;
  const rp = cut.request.params;
  assert.deepEqual([m0.width, m0.height], [rp.width, rp.height]);
  // The init's column 150 (x = 50 of 120 in the region) is left of the image's middle: inside mask 0.
  assert.equal(m0.data[Math.floor(rp.height / 2) * rp.width + Math.floor((40 / 120) * rp.width)], 255);
  assert.equal(m0.data[Math.floor(rp.height / 2) * rp.width + rp.width - 2], 0, 'x ≥ 150 is outside');
  assert.match(await field(prepareJob(v.value, { init: { ...init, channels: 4 }, mask: { width: 300, height: 200, channels: 1, data: sel }, references: [ref, ref], controls: [], referenceMasks: [half(150, 100, true), half(300, 200, true)], hashes }, { maxPixels: 1 << 20, seed: 3 })) ?? '', /^references\[0\]\.mask: the mask is 150x100 but the init image is 300x200/);
});

test('pipeline: what a job leaves out comes from its checkpoint family (SD1.5 512², SDXL 1024² and its aspect buckets)', async () => {
  const minimal = validateJob({ type: 'job', jobId: 'f', prompt: 'x' });
  assert.ok(minimal.ok);
  const none = { references: [], controls: [], hashes: { references: [], controls: [] } };
  const sd15 = (await prepareJob(minimal.value, none, { maxPixels: 4 << 20, seed: 1 })).request.params;
  assert.deepEqual([sd15.width, sd15.height, sd15.steps, sd15.sampler, sd15.guidance], [512, 512, 20, 'euler-ancestral', 7]);
  const xl = (await prepareJob(minimal.value, none, { maxPixels: 4 << 20, seed: 1, family: 'sdxl' })).request.params;
  assert.deepEqual([xl.width, xl.height, xl.steps, xl.sampler, xl.guidance], [1024, 1024, 30, 'dpmpp-2m-karras', 5]);
  // What the job sets wins.
  const set = validateJob({ type: 'job', jobId: 'g', prompt: 'x', steps: 4, sampler: 'lcm', guidance: 1, width: 768, height: 512 });
  assert.ok(set.ok);
  const xlSet = (await prepareJob(set.value, none, { maxPixels: 4 << 20, seed: 1, family: 'sdxl' })).request.params;
  assert.deepEqual([xlSet.width, xlSet.height, xlSet.steps, xlSet.sampler, xlSet.guidance], [768, 512, 4, 'lcm', 1]);

  // An init region: SD1.5 about 512² on the grid, SDXL the nearest bucket (a 1600×900 layer → 1344×768).
  const img2img = validateJob({ type: 'job', jobId: 'h', prompt: 'x', init: { source: 'frame' } });
  assert.ok(img2img.ok);
  const init = { ...noise(160, 90), channels: 4 as const };
  const withInit = { ...none, init };
  assert.deepEqual(generationSize('sdxl', { width: 1600, height: 900 }, 4 << 20), { width: 1344, height: 768 });
  const r = (await prepareJob(img2img.value, withInit, { maxPixels: 4 << 20, seed: 1, family: 'sdxl' })).request.params;
  assert.deepEqual([r.width, r.height], [1344, 768]);
  const r15 = (await prepareJob(img2img.value, withInit, { maxPixels: 4 << 20, seed: 1 })).request.params;
  assert.ok(Math.abs(r15.width * r15.height - 512 * 512) < 0.15 * 512 * 512 && r15.width % 8 === 0, `${r15.width}x${r15.height}`);
  // A daemon whose pixel budget is below the bucket fits the area to the budget instead.
  const small = generationSize('sdxl', { width: 1600, height: 900 }, 512 * 512);
  assert.ok(small.width * small.height <= 512 * 512 && small.width % 8 === 0 && Math.abs(small.width / small.height - 16 / 9) < 0.1, `${small.width}x${small.height}`);
});

test('the family of a job: the checkpoint it names, else the default one', () => {
  const models = [
    { name: 'dreamshaper.safetensors', kind: 'checkpoint' },
    { name: 'juggernaut-xl.safetensors', kind: 'checkpoint:sdxl', default: true },
    { name: 'ip-adapter_sdxl.safetensors', kind: 'ipadapter:sdxl-base', default: true },
  ];
  assert.equal(jobFamily(models, undefined), 'sdxl');
  assert.equal(jobFamily(models, 'dreamshaper.safetensors'), 'sd15');
  assert.equal(jobFamily(models, 'juggernaut-xl.safetensors'), 'sdxl');
  assert.equal(jobFamily([], undefined), 'sd15', 'nothing known: SD1.5');
});
