import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runModelsCommand, type CliIo } from '../../bridge/models/cli.ts';
import { ipAdapter, writeFile, writeSafetensors } from './make-models.ts';
import { COMMIT, startHub } from './hub-server.ts';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));
const ONNX = Buffer.from([0x08, 0x08, 0x12, 0x04, ...Buffer.from('test'), 0x3a, 0x02, 0x0a, 0x00]);

function io(env: Record<string, string>): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env,
    out: () => out,
    err: () => err,
  };
}

function envFor(): Record<string, string> {
  const home = tmp('ipa-cli-');
  // HF_HOME too: the user's real Hugging Face cache is scanned by default, and must not be here.
  return { IPA_BRIDGE_CONFIG_DIR: join(home, 'config'), IPA_BRIDGE_CACHE_DIR: join(home, 'cache'), IPA_BRIDGE_MODELS_DIR: join(home, 'models'), HF_HOME: join(home, 'hf'), XDG_DATA_HOME: join(home, 'data') };
}

test('help, unknown commands and unknown options', async () => {
  const a = io(envFor());
  assert.equal(await runModelsCommand(['--help'], a), 0);
  assert.match(a.out(), /Usage: ipa-bridge models \[options\] \[command\]/);
  assert.match(a.out(), /pull \[options\] <preset>/);
  const b = io(envFor());
  assert.equal(await runModelsCommand(['models', 'frobnicate'], b), 2);
  assert.match(b.err(), /unknown command 'frobnicate'/);
  const c = io(envFor());
  assert.equal(await runModelsCommand(['list', '--colour'], c), 2);
  assert.match(c.err(), /unknown option '--colour'/);
  const d = io(envFor());
  assert.equal(await runModelsCommand(['pull', 'nope'], d), 2, 'an unknown preset is a usage mistake, like no preset');
  assert.match(d.err(), /unknown preset "nope"; available: sd15-style, tokenizer, faceid, annotators/);
  const e = io(envFor());
  assert.equal(await runModelsCommand(['pull'], e), 2);
  assert.match(e.err(), /missing required argument 'preset'/);
  for (const sub of ['list', 'pull', 'presets', 'where']) {
    const h = io(envFor());
    assert.equal(await runModelsCommand([sub, '--help'], h), 0);
    assert.match(h.out(), new RegExp(`Usage: ipa-bridge models ${sub}`), `${sub} --help is its own help`);
    if (sub === 'list') assert.match(h.out(), /--no-hash/);
  }
});

test('presets and where', async () => {
  const env = envFor();
  const p = io(env);
  assert.equal(await runModelsCommand(['presets'], p), 0);
  for (const name of ['sd15-style', 'faceid', 'annotators', 'h94/IP-Adapter/models/ip-adapter-plus_sd15.safetensors', 'sha256 pinned']) assert.ok(p.out().includes(name), name);
  const w = io(env);
  assert.equal(await runModelsCommand(['where', '--json'], w), 0);
  const info = JSON.parse(w.out()) as { configFile: string; downloadDir: string; cacheDir: string; roots: Array<{ root: string }> };
  assert.equal(info.configFile, join(env.IPA_BRIDGE_CONFIG_DIR, 'models.json'));
  assert.equal(info.downloadDir, env.IPA_BRIDGE_MODELS_DIR);
  assert.equal(info.cacheDir, env.IPA_BRIDGE_CACHE_DIR);
  assert.deepEqual(info.roots.map((r) => r.root), [env.IPA_BRIDGE_MODELS_DIR]);
});

test('pull a preset from a local hub, list it, pull again without downloading', async () => {
  const files = [
    { repo: 'yzd-v/DWPose', path: 'yolox_l.onnx', content: Buffer.concat([ONNX, Buffer.alloc(5000, 1)]) },
    { repo: 'yzd-v/DWPose', path: 'dw-ll_ucoco_384.onnx', content: Buffer.concat([ONNX, Buffer.alloc(7000, 2)]) },
    { repo: 'onnx-community/depth-anything-v2-small', path: 'onnx/model.onnx', content: Buffer.concat([ONNX, Buffer.alloc(3000, 3)]) },
  ];
  const hub = await startHub({ files });
  try {
    const env: Record<string, string> = { ...envFor(), HF_ENDPOINT: hub.endpoint };
    const pull = io(env);
    assert.equal(await runModelsCommand(['pull', 'annotators'], pull), 0, pull.err());
    assert.match(pull.out(), /✓ downloaded {2}yzd-v\/DWPose\/yolox_l\.onnx .*verified against the hub/);
    assert.match(pull.out(), /annotators: all 3 files in place/);
    // The hub cache layout, where diffusers and the hub CLI look too.
    assert.ok(existsSync(join(env.IPA_BRIDGE_MODELS_DIR, 'models--onnx-community--depth-anything-v2-small', 'snapshots', COMMIT, 'onnx', 'model.onnx')));
    assert.match(pull.err(), /yzd-v\/DWPose\/dw-ll_ucoco_384\.onnx \[#+\] 100%/, 'progress on stderr');

    const list = io(env);
    assert.equal(await runModelsCommand(['list', '--json'], list), 0);
    const parsed = JSON.parse(list.out()) as { models: Array<{ name: string; kind: string; sha256: string | null; bytes: number }> };
    assert.deepEqual(parsed.models.map((m) => m.kind).sort(), ['depth', 'dwpose:detector', 'dwpose:pose']);
    assert.ok(parsed.models.every((m) => m.sha256 && m.sha256.length === 64));

    const cdnBefore = hub.requests.filter((r) => r.server === 'cdn').length;
    const again = io(env);
    assert.equal(await runModelsCommand(['pull', 'annotators'], again), 0);
    assert.match(again.out(), /= already present {2}yzd-v\/DWPose\/yolox_l\.onnx/);
    assert.equal(hub.requests.filter((r) => r.server === 'cdn').length, cdnBefore, 'nothing downloaded twice');
  } finally {
    await hub.close();
  }
});

test('pull refuses to write into a ComfyUI folder; offline is one clear message', async () => {
  const comfy = tmp('ipa-comfy-target-');
  writeSafetensors(join(comfy, 'models', 'ipadapter', 'ip-adapter_sd15.safetensors'), ipAdapter('base'));
  writeFile(join(comfy, 'models', 'checkpoints', 'put_checkpoints_here'), '');
  const a = io(envFor());
  assert.equal(await runModelsCommand(['pull', 'annotators', '--models', comfy], a), 1);
  assert.match(a.err(), /is a ComfyUI folder; ipa-bridge reads it but never writes into it/);
  assert.ok(!existsSync(join(comfy, 'annotators')));

  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  const b = io({ ...envFor(), HF_ENDPOINT: `http://127.0.0.1:${port}` });
  assert.equal(await runModelsCommand(['pull', 'annotators'], b), 1);
  assert.match(b.err(), new RegExp(`cannot reach 127\\.0\\.0\\.1:${port}; are you offline\\?`));
  assert.match(b.out(), /3 of 3 files failed; run the same command again to resume/);
});

test('list shows layouts, types, sizes, hashes and unsupported models', async () => {
  const root = tmp('ipa-list-');
  writeSafetensors(join(root, 'models', 'checkpoints', 'x.safetensors'), { 'model.diffusion_model.input_blocks.0.0.weight': [8, 4, 3, 3], 'conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight': [4, 8] });
  writeSafetensors(join(root, 'models', 'ipadapter', 'ip-adapter-plus_sd15.safetensors'), ipAdapter('plus'));
  const a = io(envFor());
  assert.equal(await runModelsCommand(['list', '--models', root], a), 0);
  assert.match(a.out(), /\(comfyui layout, 2 models\)/);
  assert.match(a.out(), /ip-adapter-plus_sd15\.safetensors +ipadapter:plus +\d+(\.\d)? kB +[0-9a-f]{12}/);
  assert.match(a.out(), /x\.safetensors +checkpoint:sdxl sdxl .*unsupported: an SDXL checkpoint without both text encoders/);
});
