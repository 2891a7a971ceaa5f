/**
 * Regional image prompts through the real engine on tiny generated models: a reference's mask limits
 * where its image term acts (engine/pipeline/ip-masks.ts → the UNet's ip_mask inputs).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registryLocator } from '../../bridge/models/locator.ts';
import type { Engine, GenerateParams, GenerateRequest, MaskImage, RgbaImage, StyleReference } from '../../engine/api.ts';
import { createEngine, writeTinyModels } from '../../engine/index.ts';
import { groupReferences } from '../../engine/engine.ts';

const dir = mkdtempSync(join(tmpdir(), 'ipa-regional-'));
let engine: Engine;
const W = 64;
const H = 48;
const params: GenerateParams = { prompt: 'a fox', negativePrompt: '', seed: 3, steps: 2, sampler: 'euler', guidance: 5, width: W, height: H, strength: 1, batchSize: 1, clipSkip: 1 };
const pattern = (w: number, h: number, k = 7): RgbaImage => ({ width: w, height: h, data: Uint8Array.from({ length: w * h * 4 }, (_, i) => (i % 4 === 3 ? 255 : (i * k) % 251)) });
const mask = (f: (x: number, y: number) => number, w = W, h = H): MaskImage => ({ width: w, height: h, data: Uint8Array.from({ length: w * h }, (_, i) => f(i % w, Math.floor(i / w))) });
const ref = (extra: Partial<StyleReference> = {}): StyleReference => ({ image: pattern(40, 40), adapter: 'base', scale: 1, preset: 'reference', range: { start: 0, end: 1 }, ...extra });
const job = (references: StyleReference[]): GenerateRequest => ({ params, references, controls: [] });
const pixels = async (references: StyleReference[]): Promise<Uint8Array> => (await engine.generate(job(references))).images[0].data;

before(async () => {
  await writeTinyModels(join(dir, 'models'));
  engine = await createEngine({ provider: 'cpu', models: registryLocator(join(dir, 'models')), cacheDir: join(dir, 'cache') });
});
after(() => engine.dispose());

test('an all-black mask switches a reference off, an all-white one changes nothing, a half mask lies between', async () => {
  const none = await pixels([]);
  const plain = await pixels([ref()]);
  assert.notDeepEqual(plain, none, 'the reference changes the image');
  assert.deepEqual(await pixels([ref({ mask: mask(() => 0) })]), none, 'masked out everywhere = no reference');
  assert.deepEqual(await pixels([ref({ mask: mask(() => 255) })]), plain, 'masked in everywhere = unmasked');
  const left = await pixels([ref({ mask: mask((x) => (x < W / 2 ? 230 : 20)) })]);
  assert.notDeepEqual(left, none);
  assert.notDeepEqual(left, plain);
  // a mask of another size is resized to the image first
  assert.deepEqual(await pixels([ref({ mask: mask(() => 255, 16, 12) })]), plain);
});

test('two references, left and right, give an image unlike either alone; masked references never share a slot', async () => {
  const a = pattern(40, 40, 7);
  const b = pattern(40, 40, 13);
  const twoRegions = [ref({ image: a, mask: mask((x) => (x < W / 2 ? 255 : 0)) }), ref({ image: b, scale: 0.6, mask: mask((x) => (x < W / 2 ? 0 : 255)) })];
  const out = await pixels(twoRegions);
  assert.notDeepEqual(out, await pixels([ref({ image: a })]));
  assert.notDeepEqual(out, await pixels([ref({ image: b, scale: 0.6 })]));
  const grouped = groupReferences([ref({ group: 'g', mask: mask(() => 255) }), ref({ group: 'g', mask: mask(() => 255) }), ref({ group: 'g' }), ref({ group: 'g' })]);
  assert.deepEqual(grouped.map((g) => g.map((x) => x.index)), [[0], [1], [2, 3]]);
});
