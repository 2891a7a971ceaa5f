import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { encodePng } from '../../bridge/image.ts';
import { readPngText, withPngText } from '../../bridge/png-text.ts';
import { a1111Parameters } from '../../engine/pipeline/metadata.ts';

const meta = {
  params: { prompt: 'a fox, (snow:1.2)', negativePrompt: 'blurry', steps: 20, sampler: 'dpmpp-2m-karras', guidance: 7, seed: 42, width: 512, height: 768, strength: 1, clipSkip: 2 },
  references: [{ adapter: 'plus', scale: 0.7, preset: 'style', range: { start: 0, end: 0.8 } }],
  controls: [{ type: 'pose', preprocess: 'none', scale: 1, range: { start: 0, end: 1 }, guessMode: false }],
  models: { checkpoint: { name: 'v1-5-pruned-emaonly.safetensors', sha256: '6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa' }, 'ipadapter:0': { name: 'ip-adapter-plus_sd15.safetensors', sha256: '' } },
};

test('A1111 parameters text: prompt, negative, one line of settings', () => {
  const text = a1111Parameters(meta, 1);
  const [prompt, negative, settings] = text.split('\n');
  assert.equal(prompt, 'a fox, (snow:1.2)');
  assert.equal(negative, 'Negative prompt: blurry');
  assert.match(settings, /^Steps: 20, Sampler: DPM\+\+ 2M Karras, CFG scale: 7, Seed: 43, Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Clip skip: 2, /);
  assert.match(settings, /IP-Adapter 0: "ip-adapter-plus_sd15.safetensors, scale 0.7, preset style, steps 0-0.8"/);
});

test('PNG text chunks round-trip and the PNG stays valid', async () => {
  const png = await encodePng({ width: 8, height: 8, data: new Uint8Array(256).fill(200) });
  const out = withPngText(png, { parameters: a1111Parameters(meta), comment: 'näive ☃' });
  assert.deepEqual(readPngText(out), { parameters: a1111Parameters(meta), comment: 'näive ☃' });
  const decoded = await sharp(out).raw().toBuffer({ resolveWithObject: true });
  assert.equal(decoded.info.width, 8);
  assert.equal(decoded.data[0], 200);
});
