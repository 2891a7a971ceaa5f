/**
 * Execution providers: the per-platform choice, the start-up probe (a tiny graph with the CPU fallback
 * off), what a missing CUDA library is reported as, and that a provider that fails its probe is never
 * claimed — down to the daemon's handshake.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../engine/onnx/builder.ts';
import { cudaPackagesFor, hasRenderNode, missingSharedLibraries, probeProvider, ProviderUnavailableError, selectProvider } from '../../engine/runtime/probe.ts';
import { autoOrder, executionProviders, flavourFor, providerSessionOptions, isProviderChoice, platformProviders } from '../../engine/runtime/providers.ts';
import { materialize } from '../../engine/runtime/session.ts';
import { providerLines } from '../../bridge/engine-host/index.ts';
import { startTestDaemon } from '../helpers/daemon.ts';
import { TestClient } from '../helpers/ws-client.ts';
import { probeWebGpu } from '../helpers/webgpu.ts';

const webgpu = probeWebGpu();
const webgpuSkip = webgpu.ok ? false : process.env.CI === 'true' ? false : `no WebGPU adapter here: ${webgpu.reason}`;

test('auto tries CUDA first where it exists, then the platform GPU API, the CPU last', () => {
  assert.deepEqual(autoOrder('darwin'), ['coreml', 'webgpu', 'cpu']);
  assert.deepEqual(autoOrder('win32'), ['cuda', 'dml', 'webgpu', 'cpu']);
  assert.deepEqual(autoOrder('linux'), ['cuda', 'webgpu', 'cpu']);
  assert.deepEqual(platformProviders('darwin'), ['cpu', 'coreml', 'webgpu']);
  assert.deepEqual(platformProviders('win32'), ['cpu', 'dml', 'webgpu']);
  assert.ok(isProviderChoice('auto') && isProviderChoice('dml') && !isProviderChoice('metal'));
});

test('graph flavours and session options per provider', () => {
  assert.equal(flavourFor('cpu', true), 'cpu');
  assert.equal(flavourFor('cuda', true), 'cuda');
  assert.equal(flavourFor('webgpu', true), 'webgpu-fp16');
  assert.equal(flavourFor('webgpu', false), 'webgpu');
  assert.equal(flavourFor('coreml', false), 'portable');
  assert.equal(flavourFor('dml', true), 'portable-fp16');
  // CoreML as an ML Program (COREML_FLAG_CREATE_MLPROGRAM), the CPU for what it lacks.
  assert.deepEqual(executionProviders('coreml'), [{ name: 'coreml', coreMlFlags: 0x010 }, 'cpu']);
  assert.deepEqual(executionProviders('cpu'), ['cpu']);
  // DirectML refuses memory patterns and parallel execution.
  assert.deepEqual(providerSessionOptions('dml'), { enableMemPattern: false, executionMode: 'sequential' });
  assert.deepEqual(providerSessionOptions('webgpu'), {});
});

test('the CPU probe runs; providers this platform lacks are reported as such, never as working', async () => {
  const cpu = await probeProvider('cpu');
  assert.ok(cpu.ok && cpu.available && cpu.runMs !== undefined, JSON.stringify(cpu));
  const absent = process.platform === 'linux' ? (['coreml', 'dml'] as const) : ([] as const);
  for (const p of absent) {
    const r = await probeProvider(p);
    assert.equal(r.ok, false);
    assert.equal(r.available, false);
    assert.match(r.error ?? '', new RegExp(`not in onnxruntime-node .* for ${process.platform}`));
    await assert.rejects(selectProvider(p), (e: unknown) => e instanceof ProviderUnavailableError && e.message.includes(`provider ${p} is not usable here`));
  }
});

test('CUDA without its libraries or a GPU: one reason and what to do, not a claim', { skip: process.platform !== 'linux' }, async () => {
  const r = await probeProvider('cuda');
  if (r.ok) return; // a machine with CUDA installed: nothing to check here
  assert.equal(r.available, false);
  assert.ok(r.error && r.hint, JSON.stringify(r));
  assert.match(`${r.error} ${r.hint}`, /nvidia-smi|install-cuda|install /);
});

test('a missing system library of a provider library is named, with the package that has it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipa-ldd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  try {
    execFileSync('g++', ['--version'], { stdio: 'ignore' });
    execFileSync('ldd', ['--version'], { stdio: 'ignore' });
  } catch {
    t.skip('needs g++ and ldd');
    return;
  }
  // A stand-in "provider library" linked against a library that is then removed, as when cuDNN is missing.
  writeFileSync(join(dir, 'dep.cc'), 'extern "C" int cudnn_version() { return 9; }\n');
  writeFileSync(join(dir, 'lib.cc'), 'extern "C" int cudnn_version(); extern "C" int provider() { return cudnn_version(); }\n');
  execFileSync('g++', ['-shared', '-fPIC', '-o', join(dir, 'libcudnn.so.9'), join(dir, 'dep.cc'), '-Wl,-soname,libcudnn.so.9']);
  execFileSync('g++', ['-shared', '-fPIC', '-o', join(dir, 'libprovider.so'), join(dir, 'lib.cc'), '-L', dir, '-l:libcudnn.so.9']);
  rmSync(join(dir, 'libcudnn.so.9'));
  assert.deepEqual(missingSharedLibraries(join(dir, 'libprovider.so')), ['libcudnn.so.9']);
  assert.match(cudaPackagesFor(['libcudnn.so.9']), /cuDNN 9/);
  assert.match(cudaPackagesFor(['libcublasLt.so.12', 'libcudart.so.12']), /CUDA 12 runtime/);
});

test('auto on this machine takes the first provider that probes well, and says what it skipped', async () => {
  const s = await selectProvider('auto');
  assert.ok(s.probes.at(-1)?.ok);
  assert.equal(s.provider, s.probes.at(-1)?.provider);
  if (process.platform === 'linux' && !hasRenderNode()) {
    // Only a software Vulkan here: WebGPU would be slower than the CPU, so auto passes it over.
    assert.equal(s.provider, 'cpu');
    assert.match(s.reason, /webgpu \(software Vulkan only\)/);
  }
  const lines = providerLines({ ...s, probes: s.probes });
  assert.equal(lines.at(-1)?.level, 'info');
  assert.match(lines.at(-1)?.text ?? '', new RegExp(`^provider ${s.provider}`));
  for (const p of s.probes.filter((x) => !x.ok && x.available)) assert.ok(lines.some((l) => l.level === 'warn' && l.text.includes(p.provider)), `a line for ${p.provider}`);
});

test('WebGPU asked for explicitly: probed with the CPU fallback off, fp16 found (shader-f16)', { skip: webgpuSkip }, async () => {
  const s = await selectProvider('webgpu');
  assert.equal(s.provider, 'webgpu');
  assert.equal(s.reason, 'asked for');
  assert.equal(typeof s.fp16, 'boolean');
  assert.ok(s.probes[0].runMs !== undefined);
});

test('weights handed over in memory (the CoreML path) load and run like hard-linked ones', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipa-mem-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const weights = join(dir, 'w.safetensors');
  const header = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(weights, Buffer.concat([len, header, Buffer.from(new Float32Array([1, 2, 3, 4]).buffer)]));
  const { safetensorsSource } = await import('../../engine/weights/source.ts');
  const g = new GraphBuilder('mem', 'cpu');
  const x = g.floatInput('x', [1, 2]);
  g.floatOutput('y', g.op('MatMul', [x, g.weight(safetensorsSource(weights), 'w')]), [1, 2]);
  const built = g.build();
  const m = materialize(built, join(dir, 'cache'), { weightsInMemory: true });
  assert.equal(m.externalData?.length, 1, 'the weight file travels as bytes');
  const s = await ort.InferenceSession.create(m.modelPath, { externalData: m.externalData });
  const r = await s.run({ x: new ort.Tensor('float32', new Float32Array([1, 1]), [1, 2]) });
  assert.deepEqual([...(r.y.data as Float32Array)], [4, 6]);
  await s.release();
});

test('the handshake names the provider in use; one that fails its probe is never claimed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipa-prov-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { writeTinyModels } = await import('../../engine/index.ts');
  await writeTinyModels(dir);
  // A provider this platform does not have: the daemon runs, reports no provider and says why.
  const missing = process.platform === 'darwin' ? 'dml' : 'coreml';
  const bad = await startTestDaemon({ args: ['--engine', 'default', '--models', dir, '--provider', missing] });
  try {
    const { c, welcome } = await TestClient.connect(bad.url());
    assert.equal(welcome.capabilities.provider, null);
    assert.match(welcome.capabilities.engineError ?? '', new RegExp(`provider ${missing} is not usable here`));
    c.close();
  } finally {
    await bad.stop();
  }
  if (webgpuSkip !== false) return;
  const gpu = await startTestDaemon({ args: ['--engine', 'default', '--models', dir, '--provider', 'webgpu'] });
  try {
    const { c, welcome } = await TestClient.connect(gpu.url());
    assert.equal(welcome.capabilities.provider, 'webgpu');
    assert.equal(typeof welcome.capabilities.fp16, 'boolean');
    assert.match(gpu.log(), /provider webgpu( \(fp16\))?.* — asked for/);
    c.close();
  } finally {
    await gpu.stop();
  }
});
