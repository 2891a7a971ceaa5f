/**
 * SDXL end to end: a real daemon process with the real engine on tiny generated SDXL models, real
 * WebSocket clients. The handshake lists the SDXL models with their family; txt2img with an image
 * prompt + ControlNet + LoRA, img2img and inpaint (9-channel SDXL UNet) come back as PNGs whose
 * metadata and A1111 text name the family.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { connectBridge } from '../../bridge/connect.ts';
import { readPngText } from '../../bridge/png-text.ts';
import { writeTinySdxlModels } from '../../engine/index.ts';
import type { BridgeClient } from '../../shared/protocol/index.ts';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';

const tmp = mkdtempSync(join(tmpdir(), 'ipa-daemon-sdxl-'));
let d: TestDaemon;
let client: BridgeClient;
const W = 64;
const frame = (k: number) => ({ format: 'raw-rgba8' as const, width: W, height: W, data: Uint8Array.from({ length: W * W * 4 }, (_, i) => (i % 4 === 3 ? 255 : (i * k) % 251)) });

before(async () => {
  await writeTinySdxlModels(join(tmp, 'models'));
  d = await startTestDaemon({ args: ['--engine', 'default', '--provider', 'cpu', '--models', join(tmp, 'models')], env: { IPA_BRIDGE_CACHE_DIR: join(tmp, 'cache') } });
  client = await connectBridge({ host: '127.0.0.1', port: d.port, token: d.token, clientName: 'sdxl-test' });
});

after(async () => {
  client?.close();
  await d?.stop();
});

async function png(data: Uint8Array): Promise<{ width: number; height: number; text: Record<string, string> }> {
  const meta = await sharp(data).metadata();
  assert.equal(meta.format, 'png');
  return { width: meta.width ?? 0, height: meta.height ?? 0, text: readPngText(data) };
}

test('the handshake lists the SDXL models with SDXL roles and their family', () => {
  const models = client.welcome!.capabilities.models;
  const kinds = Object.fromEntries(models.map((m) => [m.name, [m.kind, m.base]]));
  assert.deepEqual(kinds['tiny-sdxl'], ['checkpoint:sdxl', 'sdxl']);
  assert.deepEqual(kinds['tiny-sdxl-inpainting'], ['checkpoint:sdxl-inpaint', 'sdxl']);
  assert.deepEqual(kinds['ip-adapter_sdxl_tiny.safetensors'], ['ipadapter:sdxl-base', 'sdxl']);
  assert.deepEqual(kinds['controlnet-openpose-sdxl-tiny.safetensors'], ['controlnet:sdxl-pose', 'sdxl']);
  assert.deepEqual(kinds['tiny-sdxl-style.safetensors'], ['lora', 'sdxl']);
  // Per family: what its models allow and its defaults; the top-level lists stay SD1.5's.
  const caps = client.welcome!.capabilities;
  const xl = caps.families?.sdxl;
  assert.deepEqual([xl?.checkpoints, xl?.adapters, xl?.controls], [['tiny-sdxl', 'tiny-sdxl-inpainting'], ['base'], ['pose']]);
  assert.deepEqual([xl?.defaults.width, xl?.defaults.height, xl?.defaults.buckets?.[0]], [1024, 1024, [1024, 1024]]);
  assert.equal(caps.families?.sd15, undefined, 'no SD1.5 checkpoint installed');
  assert.deepEqual(caps.adapters, []);
});

test('SDXL txt2img with an image prompt, a ControlNet and a LoRA through the daemon', async () => {
  const r = await client.submit({
    type: 'job', jobId: 'sdxl-full', prompt: 'a red fox in the snow', negativePrompt: 'blurry', seed: 7, steps: 3, sampler: 'euler', guidance: 5, width: W, height: W,
    checkpoint: 'tiny-sdxl', references: [{ source: 'frame', scale: 0.6 }], controls: [{ source: 'frame', type: 'pose', preprocess: 'none', scale: 0.8 }],
    loras: [{ model: 'tiny-sdxl-style.safetensors', strength: 0.7 }],
  }, { references: [frame(3)], controls: [frame(5)] });
  const m = r.result.metadata;
  assert.equal(m.family, 'sdxl');
  assert.ok(m.models['ipadapter:0'].name.includes('sdxl'));
  assert.ok(m.models['controlnet:0'].name.includes('sdxl'));
  const out = await png(r.images[0].data);
  assert.deepEqual([out.width, out.height], [W, W]);
  assert.match(out.text.parameters ?? '', /Model: tiny-sdxl, Model family: SDXL/);
  assert.match(out.text.parameters ?? '', /Lora tiny-sdxl-style\.safetensors: 0\.7/);
});

test('SDXL img2img and inpaint (9-channel UNet) through the daemon', async () => {
  const i2i = await client.submit({ type: 'job', jobId: 'sdxl-i2i', prompt: 'a fox', seed: 3, steps: 3, strength: 0.6, width: W, height: W, checkpoint: 'tiny-sdxl', init: { source: 'frame' } }, { init: frame(7) });
  assert.equal(i2i.result.metadata.family, 'sdxl');
  assert.equal(i2i.result.metadata.params.strength, 0.6);
  const mask = { format: 'raw-rgba8' as const, width: W, height: W, data: Uint8Array.from({ length: W * W * 4 }, (_, i) => (i % 4 === 3 ? 255 : Math.floor(i / 4) % W < W / 2 ? 255 : 0)) };
  const inpaint = await client.submit({ type: 'job', jobId: 'sdxl-inpaint', prompt: 'a fox', seed: 3, steps: 3, width: W, height: W, checkpoint: 'tiny-sdxl-inpainting', init: { source: 'frame' }, mask: { source: 'frame' } }, { init: frame(7), mask });
  assert.equal(inpaint.result.metadata.family, 'sdxl');
  assert.equal(inpaint.result.metadata.models.checkpoint.name, 'tiny-sdxl-inpainting');
  assert.deepEqual([(await png(inpaint.images[0].data)).width], [W]);
});

test('selftest --family sdxl: a private daemon runs an SDXL job with image prompt, ControlNet and LoRA on tiny models', async () => {
  const { spawnSync } = await import('node:child_process');
  const out = join(tmp, 'selftest-sdxl.png');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bridge/cli.ts', 'selftest', '--family', 'sdxl', '-o', out], { cwd: join(import.meta.dirname, '..', '..'), encoding: 'utf8', env: { ...process.env, IPA_BRIDGE_CONFIG_DIR: join(tmp, 'cfg') }, timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /job ran 4 steps in \d+ ms \(SDXL\) with an image prompt, a ControlNet and a LoRA/);
  const meta = await png(new Uint8Array((await import('node:fs')).readFileSync(out)));
  assert.deepEqual([meta.width, meta.height], [64, 64]);
  assert.match(meta.text.parameters ?? '', /Model family: SDXL/);
});

test('a job that leaves out size, steps, sampler and guidance gets the SDXL defaults of the default checkpoint', async () => {
  assert.ok(client.welcome!.capabilities.models.find((m) => m.name === 'tiny-sdxl')?.default, 'the only plain checkpoint is the default');
  let started: { width: number; height: number; steps: number } | undefined;
  // A landscape init of 160×90: the nearest SDXL bucket, 1344×768 (generated, then scaled back to the init's size).
  const init = { format: 'raw-rgba8' as const, width: 160, height: 90, data: new Uint8Array(160 * 90 * 4).fill(200) };
  const out = await client.submit({ type: 'job', jobId: 'sdxl-defaults', prompt: 'a fox', seed: 1, strength: 0.04, init: { source: 'frame' } }, { init }, { onStarted: (m) => (started = m) });
  assert.deepEqual([started?.width, started?.height], [1344, 768]);
  const p = out.result.metadata.params;
  assert.deepEqual([p.width, p.height, p.steps, p.sampler, p.guidance], [1344, 768, 30, 'dpmpp-2m-karras', 5]);
  assert.deepEqual([out.result.metadata.outputWidth, out.result.metadata.outputHeight], [160, 90]);
});
