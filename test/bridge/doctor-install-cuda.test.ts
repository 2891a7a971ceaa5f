/**
 * `ipa-bridge doctor` and `ipa-bridge install-cuda` as a user runs them (real CLI processes). The CUDA
 * download itself needs nuget.org; `--from` installs the same package from a file, which is tested
 * with a package built here (stand-in libraries, the real layout and .nuspec).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import AdmZip from 'adm-zip';
import { CUDA_PROVIDER_FILES, ortVersion } from '../../bridge/install-cuda.ts';
import { ROOT } from '../helpers/spawn.ts';

const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'bridge/cli.ts', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });

function nupkg(path: string, version: string, files: readonly string[] = CUDA_PROVIDER_FILES): void {
  const zip = new AdmZip();
  zip.addFile('Microsoft.ML.OnnxRuntime.Gpu.Linux.nuspec', Buffer.from(`<?xml version="1.0"?><package><metadata><id>Microsoft.ML.OnnxRuntime.Gpu.Linux</id><version>${version}</version></metadata></package>`));
  for (const f of files) zip.addFile(`runtimes/linux-x64/native/${f}`, Buffer.from(`stand-in ${f}`));
  zip.writeZip(path);
}

test('install-cuda --from a downloaded .nupkg puts the provider libraries in place; a wrong version or file is refused by name', { skip: process.platform !== 'linux' || process.arch !== 'x64' }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipa-cuda-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, 'bin');
  const env = { IPA_BRIDGE_ORT_BIN_DIR: bin };

  const check = cli(['install-cuda', '--check'], env);
  assert.equal(check.status, 1);
  assert.match(check.stdout, /missing: libonnxruntime_providers_cuda\.so.*run: npx ipa-bridge install-cuda/);

  const wrong = join(dir, 'old.nupkg');
  nupkg(wrong, '1.19.2');
  const r1 = cli(['install-cuda', '--from', wrong], env);
  assert.equal(r1.status, 1);
  assert.match(r1.stdout, new RegExp(`--from ${wrong.replace(/[.]/g, '\\.')}: that is Microsoft.ML.OnnxRuntime.Gpu.Linux 1.19.2, but onnxruntime-node is ${ortVersion().replace(/[.]/g, '\\.')}`));

  const notZip = join(dir, 'notes.txt');
  writeFileSync(notZip, 'hello');
  const r2 = cli(['install-cuda', '--from', notZip], env);
  assert.equal(r2.status, 1);
  assert.match(r2.stdout, /not a \.nupkg \(zip\) file/);

  const incomplete = join(dir, 'cpu-only.nupkg');
  nupkg(incomplete, ortVersion(), ['libonnxruntime_providers_shared.so']);
  const r3 = cli(['install-cuda', '--from', incomplete], env);
  assert.equal(r3.status, 1);
  assert.match(r3.stdout, /libonnxruntime_providers_cuda\.so, libonnxruntime_providers_tensorrt\.so not found under runtimes\/linux-x64\/native\//);
  assert.ok(!existsSync(join(bin, 'libonnxruntime_providers_shared.so')), 'nothing installed from an incomplete package');

  const good = join(dir, 'gpu.nupkg');
  nupkg(good, ortVersion());
  const r4 = cli(['install-cuda', '--from', good], env);
  assert.equal(r4.status, 0, r4.stdout + r4.stderr);
  for (const f of CUDA_PROVIDER_FILES) assert.equal(readFileSync(join(bin, f), 'utf8'), `stand-in ${f}`);
  assert.match(r4.stdout, /CUDA provider libraries are in place/);
});

test('install-cuda --help says where CUDA exists and how to install offline', () => {
  const r = cli(['install-cuda', '--help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /--from <file\.nupkg>/);
  assert.match(r.stdout, /Linux x64/);
});

test('doctor: every provider probed, the choice and why, and what the model folders lack', () => {
  const missing = join(tmpdir(), `ipa-no-such-models-${process.pid}`);
  const r = cli(['doctor', '--json', '--models', missing]);
  assert.equal(r.status, 1, 'no models: text-to-image cannot run');
  const report = JSON.parse(r.stdout) as { providers: Array<{ provider: string; ok: boolean; available: boolean; error?: string }>; chosen: { provider?: string; reason?: string }; modelFolders: Array<{ path: string; exists: boolean }>; missing: Array<{ feature: string; command: string }> };
  assert.deepEqual(report.providers.map((p) => p.provider), ['cpu', 'webgpu', 'coreml', 'dml', 'cuda', 'tensorrt']);
  assert.ok(report.providers.find((p) => p.provider === 'cpu')?.ok);
  for (const p of report.providers) if (!p.ok) assert.ok(p.error, `${p.provider} says why it is not usable`);
  assert.ok(report.chosen.provider && report.chosen.reason?.startsWith('auto'));
  assert.deepEqual(report.modelFolders, [{ path: missing, exists: false }]);
  assert.equal(report.missing[0].feature, 'text to image');

  const text = cli(['doctor', '--models', missing]);
  assert.match(text.stdout, /^platform: .*onnxruntime-node /m);
  assert.match(text.stdout, /^chosen: \S+ .*— auto/m);
  assert.match(text.stdout, /\(does not exist\)/);
  assert.match(text.stdout, /missing — text to image: .*npx ipa-bridge models pull/);
});
