/**
 * Does a provider actually run here? Each candidate gets a tiny graph (MatMul, Softmax, Conv,
 * InstanceNormalization: the op kinds every model graph is made of) with the CPU fallback switched
 * off, so a provider that would silently hand its nodes to the CPU fails instead of being claimed.
 * Its output is compared with the CPU's; fp16 is tried the same way. `auto` takes the first
 * candidate that passes.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, TensorType } from '../onnx/builder.ts';
import { autoOrder, executionProviders, providerSessionOptions, PROVIDER_NAMES, type ProviderChoice, type ProviderName } from './providers.ts';

export interface ProbeResult {
  readonly provider: ProviderName;
  /** onnxruntime-node's binary for this platform offers it (and its libraries are installed). */
  readonly available: boolean;
  /** The probe graph ran on it and matched the CPU. */
  readonly ok: boolean;
  /** The fp16 probe graph ran on it and matched the CPU. */
  readonly fp16: boolean;
  /** Session creation + first run of the probe graph, and a warm run. */
  readonly createMs?: number;
  readonly runMs?: number;
  readonly device?: string;
  /** Why it was skipped, and what to do. One line each. */
  readonly error?: string;
  readonly hint?: string;
}

export interface ProviderSelection {
  readonly provider: ProviderName;
  readonly fp16: boolean;
  readonly device?: string;
  /** Why this one: "asked for", or which candidates `auto` skipped. */
  readonly reason: string;
  readonly probes: readonly ProbeResult[];
}

export class ProviderUnavailableError extends Error {
  constructor(readonly probe: ProbeResult) {
    super(`provider ${probe.provider} is not usable here: ${probe.error ?? 'probe failed'}${probe.hint ? ` (${probe.hint})` : ''}`);
    this.name = 'ProviderUnavailableError';
  }
}

const SIZE = 16;

/** The probe graph: y = Conv(InstanceNorm(Softmax(x @ w))) over a [1, 4, 16, 16] activation. */
function probeGraph(fp16: boolean): Uint8Array {
  const g = new GraphBuilder('probe', 'cpu');
  const compute = fp16 ? TensorType.FLOAT16 : TensorType.FLOAT;
  const cast = (t: string): string => (fp16 ? g.op('Cast', [t], { to: compute }) : t);
  const x = cast(g.input('x', TensorType.FLOAT, [1, 4, SIZE, SIZE]));
  const w = cast(g.floatConst(ramp(SIZE * SIZE, 0.01), [SIZE, SIZE], 'w'));
  const k = cast(g.floatConst(ramp(4 * 4 * 3 * 3, 0.02), [4, 4, 3, 3], 'k'));
  const ones = cast(g.floatConst(new Float32Array(4).fill(1), [4], 'ones'));
  const zeros = cast(g.floatConst(new Float32Array(4), [4], 'zeros'));
  const attn = g.op('Softmax', [g.op('MatMul', [x, w])], { axis: -1 });
  const normed = g.op('InstanceNormalization', [attn, ones, zeros]);
  const y = g.op('Conv', [normed, k], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
  g.output('y', fp16 ? g.op('Cast', [y], { to: TensorType.FLOAT }) : y, TensorType.FLOAT, [1, 4, SIZE, SIZE]);
  return g.build().model;
}

function ramp(n: number, step: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin(i * 0.37) * step * 10;
  return a;
}

function probeInput(): ort.Tensor {
  const n = 4 * SIZE * SIZE;
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = Math.cos(i * 0.11);
  return new ort.Tensor('float32', d, [1, 4, SIZE, SIZE]);
}

async function runProbeGraph(model: Uint8Array, provider: ProviderName): Promise<{ out: Float32Array; createMs: number; runMs: number }> {
  const t0 = performance.now();
  const so: ort.InferenceSession.SessionOptions = {
    executionProviders: executionProviders(provider).filter((p) => p !== 'cpu' || provider === 'cpu'),
    ...providerSessionOptions(provider),
    logSeverityLevel: 3,
  };
  // A provider that cannot take every node must fail the probe, not pass on the CPU's work.
  // (onnxruntime-node rejects keys that are present but undefined, so only set it when needed.)
  if (provider !== 'cpu') so.extra = { session: { disable_cpu_ep_fallback: '1' } };
  const session = await ort.InferenceSession.create(model, so);
  try {
    const feeds = { x: probeInput() };
    await session.run(feeds);
    const createMs = performance.now() - t0;
    const t1 = performance.now();
    const r = await session.run(feeds);
    return { out: r.y.data as Float32Array, createMs, runMs: performance.now() - t1 };
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

let cpuReference: Promise<Float32Array> | undefined;
/** The CPU's fp32 output: what both probe graphs are compared with. */
function reference(): Promise<Float32Array> {
  cpuReference ??= runProbeGraph(probeGraph(false), 'cpu').then((r) => r.out);
  return cpuReference;
}

/** Where onnxruntime-node keeps its native libraries for this platform. */
export function ortBinDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('onnxruntime-node/package.json'));
  return join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

/** CUDA/TensorRT provider libraries missing from onnxruntime-node's folder, or system libraries they cannot find. */
export function cudaLibraryProblem(provider: 'cuda' | 'tensorrt'): { error: string; hint: string } | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return { error: `onnxruntime-node ships no ${provider} provider for ${process.platform}/${process.arch}`, hint: process.platform === 'win32' ? 'use --provider dml or webgpu on Windows' : 'use another provider' };
  }
  const lib = join(ortBinDir(), `libonnxruntime_providers_${provider}.so`);
  if (!existsSync(lib)) return { error: `${lib} is not installed (onnxruntime-node downloads it separately)`, hint: 'run: npx ipa-bridge install-cuda' };
  const missing = missingSharedLibraries(lib);
  if (missing.length) {
    return { error: `${provider} provider cannot load ${missing.join(', ')}`, hint: `install ${cudaPackagesFor(missing)} (or add their folder to LD_LIBRARY_PATH)` };
  }
  return undefined;
}

/** Shared libraries `ldd` reports as "not found" for `lib` (empty when ldd is unavailable). */
export function missingSharedLibraries(lib: string): string[] {
  try {
    const out = execFileSync('ldd', [lib], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
    return out.split('\n').filter((l) => l.includes('not found')).map((l) => l.trim().split(/\s+/)[0]);
  } catch {
    return [];
  }
}

/** Names the NVIDIA packages (CUDA 12 toolkit libraries, cuDNN 9) that provide the missing libraries. */
export function cudaPackagesFor(libs: readonly string[]): string {
  const want = new Set<string>();
  for (const l of libs) {
    if (/cudnn/.test(l)) want.add('cuDNN 9 for CUDA 12 (libcudnn9-cuda-12)');
    else if (/nvinfer|nvonnxparser/.test(l)) want.add('TensorRT 10 (libnvinfer10)');
    else if (/cublas|cudart|cufft|curand|nvrtc|cuda/.test(l)) want.add('the CUDA 12 runtime libraries (cuda-libraries-12-x: cudart, cublas, cufft, curand)');
    else want.add(l);
  }
  return [...want].join(' and ');
}

/** A name for the device behind a provider, where this machine tells. */
export function deviceName(provider: ProviderName): string | undefined {
  if (provider === 'cpu') return `${cpus()[0]?.model?.trim() ?? 'CPU'} (${cpus().length} threads)`;
  if (provider === 'cuda' || provider === 'tensorrt') return nvidiaGpus()[0]?.name;
  if (provider === 'webgpu' && process.platform === 'linux' && !hasRenderNode()) return 'software Vulkan (Mesa lavapipe; no GPU device node in /dev/dri)';
  // onnxruntime-node does not expose the WebGPU adapter, CoreML or DirectML device.
  return undefined;
}

export interface GpuInfo {
  readonly name: string;
  readonly memoryTotalMiB: number;
  readonly memoryUsedMiB: number;
}

/** NVIDIA GPUs as nvidia-smi reports them (empty without the driver). */
export function nvidiaGpus(): GpuInfo[] {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=name,memory.total,memory.used', '--format=csv,noheader,nounits'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
    return out.trim().split('\n').filter(Boolean).map((l) => {
      const [name, total, used] = l.split(',').map((s) => s.trim());
      return { name, memoryTotalMiB: Number(total), memoryUsedMiB: Number(used) };
    });
  } catch {
    return [];
  }
}

/** Linux: a DRM render node means a GPU driver; without one, Vulkan can only be the software lavapipe. */
export function hasRenderNode(): boolean {
  try {
    return readdirSync('/dev/dri').some((n) => n.startsWith('renderD'));
  } catch {
    return false;
  }
}

/** Providers onnxruntime-node's binary was built with here. */
export function builtProviders(): Set<string> {
  return new Set(ort.listSupportedBackends().map((b) => b.name));
}

export async function probeProvider(provider: ProviderName): Promise<ProbeResult> {
  if (!builtProviders().has(provider)) {
    return { provider, available: false, ok: false, fp16: false, error: `not in onnxruntime-node ${ort.env.versions.node ?? ''} for ${process.platform}/${process.arch}`.replace('  ', ' ') };
  }
  if (provider === 'cuda' || provider === 'tensorrt') {
    if (process.platform === 'linux' && nvidiaGpus().length === 0) {
      return { provider, available: false, ok: false, fp16: false, error: 'no NVIDIA GPU (nvidia-smi finds none)', hint: 'install the NVIDIA driver if this machine has an NVIDIA GPU' };
    }
    const problem = cudaLibraryProblem(provider);
    if (problem) return { provider, available: false, ok: false, fp16: false, ...problem };
  }
  if (provider === 'webgpu' && process.platform === 'linux' && !process.env.XDG_RUNTIME_DIR) {
    return { provider, available: true, ok: false, fp16: false, error: 'XDG_RUNTIME_DIR is not set (Dawn needs it to start Vulkan)', hint: 'export XDG_RUNTIME_DIR=/run/user/$(id -u)' };
  }
  const ref = await reference();
  let createMs: number | undefined;
  let runMs: number | undefined;
  try {
    const r = await runProbeGraph(probeGraph(false), provider);
    ({ createMs, runMs } = r);
    const err = maxAbsDiff(r.out, ref);
    if (!(err <= 1e-3)) return { provider, available: true, ok: false, fp16: false, createMs, runMs, error: `probe output differs from the CPU by ${err.toExponential(1)}`, hint: 'update the GPU driver' };
  } catch (e) {
    return { provider, available: true, ok: false, fp16: false, error: oneLine(e), hint: hintFor(provider) };
  }
  let fp16 = false;
  if (provider !== 'cpu') {
    try {
      const r = await runProbeGraph(probeGraph(true), provider);
      fp16 = maxAbsDiff(r.out, ref) <= 2e-2;
    } catch {
      fp16 = false; // no fp16 kernels (e.g. WebGPU without shader-f16): the fp32 flavour is used
    }
  }
  return { provider, available: true, ok: true, fp16, createMs, runMs, device: deviceName(provider) };
}

function oneLine(e: unknown): string {
  const m = (e as Error)?.message ?? String(e);
  return m.split('\n').map((s) => s.trim()).filter(Boolean).slice(0, 2).join(' ').slice(0, 300);
}

function hintFor(p: ProviderName): string | undefined {
  switch (p) {
    case 'webgpu':
      return process.platform === 'linux' ? 'install a Vulkan driver (Mesa ≥ 24 or the GPU vendor\'s)' : 'update the GPU driver';
    case 'dml':
      return 'needs Windows 10 1903+ with a DirectX 12 GPU; update the GPU driver';
    case 'coreml':
      return 'needs macOS 12 or later';
    case 'cuda':
    case 'tensorrt':
      return 'check the NVIDIA driver (nvidia-smi) and run: npx ipa-bridge install-cuda --check';
    default:
      return undefined;
  }
}

/**
 * Picks the provider: an explicit choice must probe well (else ProviderUnavailableError); `auto` tries
 * the platform's order and takes the first that does. WebGPU on Linux without a GPU device node would
 * run on the software Vulkan driver, far slower than the CPU provider, so `auto` passes it over.
 */
export async function selectProvider(choice: ProviderChoice, opts: { onSkip?: (p: ProbeResult) => void; probe?: (p: ProviderName) => Promise<ProbeResult> } = {}): Promise<ProviderSelection> {
  const probe = opts.probe ?? probeProvider;
  if (choice !== 'auto') {
    const p = await probe(choice);
    if (!p.ok) throw new ProviderUnavailableError(p);
    return { provider: choice, fp16: p.fp16, device: p.device, reason: 'asked for', probes: [p] };
  }
  const probes: ProbeResult[] = [];
  const skipped: string[] = [];
  for (const candidate of autoOrder()) {
    if (candidate === 'webgpu' && process.platform === 'linux' && !hasRenderNode()) {
      const p: ProbeResult = { provider: 'webgpu', available: builtProviders().has('webgpu'), ok: false, fp16: false, error: 'no GPU device node in /dev/dri: WebGPU would run on the software Vulkan driver, slower than the CPU', hint: 'use --provider webgpu to force it' };
      probes.push(p);
      skipped.push(`webgpu (software Vulkan only)`);
      opts.onSkip?.(p);
      continue;
    }
    const p = await probe(candidate);
    probes.push(p);
    if (p.ok) {
      const reason = skipped.length ? `auto: first that probed well (skipped ${skipped.join(', ')})` : 'auto: first that probed well';
      return { provider: candidate, fp16: p.fp16, device: p.device, reason, probes };
    }
    skipped.push(`${candidate}: ${p.available ? 'probe failed' : 'not installed'}`);
    opts.onSkip?.(p);
  }
  throw new ProviderUnavailableError(probes[probes.length - 1]);
}

/** Every provider, probed (for `doctor`). */
export async function probeAll(): Promise<ProbeResult[]> {
  const out: ProbeResult[] = [];
  for (const p of PROVIDER_NAMES) out.push(await probeProvider(p));
  return out;
}
