/**
 * `ipa-bridge install-cuda`: puts onnxruntime-node's CUDA and TensorRT provider libraries in place
 * after a normal install. npm skips onnxruntime-node's own download script for this project
 * (package.json `allowScripts`, so installs work offline and print no warning), and a later
 * `npm install --onnxruntime-node-install=cuda12` changes nothing because the package is already
 * installed. So this command runs that script itself with ONNXRUNTIME_NODE_INSTALL=cuda12 (it
 * downloads Microsoft.ML.OnnxRuntime.Gpu.Linux from nuget.org), or, offline, takes the same .nupkg
 * from a file (`--from`). Afterwards it checks which CUDA / cuDNN system libraries are missing.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import AdmZip from 'adm-zip';
import { cudaLibraryProblem, nvidiaGpus, ortBinDir } from '../engine/runtime/probe.ts';

export interface InstallCudaOptions {
  /** Only report what is installed and which system libraries are missing. */
  readonly check: boolean;
  /** A downloaded Microsoft.ML.OnnxRuntime.Gpu.Linux .nupkg to install from (no network). */
  readonly from?: string;
}

/** The files onnxruntime-node's install script takes from the nupkg (its install-metadata.js). */
export const CUDA_PROVIDER_FILES = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so', 'libonnxruntime_providers_tensorrt.so'] as const;
const NUPKG_DIR = 'runtimes/linux-x64/native/';
const NUPKG_NAME = 'Microsoft.ML.OnnxRuntime.Gpu.Linux';

export function ortVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('onnxruntime-node/package.json') as { version: string }).version;
}

/** Where the provider libraries go: onnxruntime-node's own bin folder (IPA_BRIDGE_ORT_BIN_DIR for tests). */
function targetDir(): string {
  return process.env.IPA_BRIDGE_ORT_BIN_DIR ?? ortBinDir();
}

export async function runInstallCuda(opts: InstallCudaOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const say = (s: string): void => void out.write(`${s}\n`);
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    say(`onnxruntime-node ${ortVersion()} has CUDA only on Linux x64 (this is ${process.platform}/${process.arch}).`);
    say(process.platform === 'win32' ? 'On Windows use the GPU through DirectML or WebGPU: npx ipa-bridge start --provider dml (or webgpu).' : 'Use --provider auto to pick what works here.');
    return 1;
  }
  if (!opts.check) {
    const installed = opts.from ? installFromNupkg(opts.from, say) : await runOrtInstallScript(say);
    if (!installed) return 1;
  }
  return report(say);
}

/** What is in place, what the libraries lack, and what to do. 0 when CUDA should load. */
function report(say: (s: string) => void): number {
  const dir = targetDir();
  const present = CUDA_PROVIDER_FILES.filter((f) => existsSync(join(dir, f)));
  say(`onnxruntime-node ${ortVersion()} provider libraries in ${dir}: ${present.length ? present.join(', ') : 'none'}`);
  if (present.length < CUDA_PROVIDER_FILES.length) {
    say(`missing: ${CUDA_PROVIDER_FILES.filter((f) => !present.includes(f)).join(', ')} — run: npx ipa-bridge install-cuda`);
    return 1;
  }
  const gpus = nvidiaGpus();
  say(gpus.length ? `GPUs: ${gpus.map((g) => `${g.name} (${g.memoryTotalMiB} MiB)`).join(', ')}` : 'nvidia-smi found no GPU (is the NVIDIA driver installed?)');
  const problem = process.env.IPA_BRIDGE_ORT_BIN_DIR ? undefined : cudaLibraryProblem('cuda');
  if (problem) {
    say(`${problem.error}: ${problem.hint}`);
    return 1;
  }
  say('CUDA provider libraries are in place. Start with: npx ipa-bridge start --provider cuda  (npx ipa-bridge doctor probes it)');
  return 0;
}

/** Runs onnxruntime-node's own install script for CUDA 12; false (with the reason said) on failure. */
async function runOrtInstallScript(say: (s: string) => void): Promise<boolean> {
  const require = createRequire(import.meta.url);
  const pkgDir = dirname(require.resolve('onnxruntime-node/package.json'));
  const script = join(pkgDir, 'script', 'install.js');
  say(`downloading ${NUPKG_NAME} ${ortVersion()} from nuget.org (onnxruntime-node's install script, ~300 MB)…`);
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, [script], { cwd: pkgDir, env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'cuda12' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    child.on('error', (e) => resolve({ code: 1, output: e.message }));
    child.on('close', (c) => resolve({ code: c, output: text }));
  });
  if (code === 0) return true;
  const lastLine = output.trim().split('\n').filter(Boolean).slice(-1)[0] ?? `exit code ${code}`;
  const offline = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH|getaddrinfo/.test(output);
  say(`the download failed: ${lastLine}`);
  if (offline) say('nuget.org cannot be reached (offline?). Download the .nupkg elsewhere and run: npx ipa-bridge install-cuda --from FILE.nupkg');
  say(`  (${NUPKG_NAME} ${ortVersion()}: https://www.nuget.org/api/v2/package/${NUPKG_NAME}/${ortVersion()})`);
  return false;
}

/** Copies the provider libraries out of a downloaded nupkg (a zip); false (with the reason said) on failure. */
export function installFromNupkg(file: string, say: (s: string) => void): boolean {
  if (!existsSync(file)) {
    say(`--from ${file}: no such file`);
    return false;
  }
  let zip: AdmZip;
  try {
    zip = new AdmZip(readFileSync(file));
  } catch (e) {
    say(`--from ${file}: not a .nupkg (zip) file: ${(e as Error).message}`);
    return false;
  }
  const version = nuspecVersion(zip);
  if (version && version !== ortVersion()) {
    say(`--from ${file}: that is ${NUPKG_NAME} ${version}, but onnxruntime-node is ${ortVersion()}; the versions must match`);
    return false;
  }
  const missing = CUDA_PROVIDER_FILES.filter((f) => !zip.getEntry(NUPKG_DIR + f));
  if (missing.length) {
    say(`--from ${file}: ${missing.join(', ')} not found under ${NUPKG_DIR} (is it ${NUPKG_NAME}?)`);
    return false;
  }
  const dir = targetDir();
  mkdirSync(dir, { recursive: true });
  for (const f of CUDA_PROVIDER_FILES) {
    // Written beside and renamed, so a library is never half there.
    const tmp = join(dir, `.${f}.${process.pid}.tmp`);
    zip.extractEntryTo(NUPKG_DIR + f, dir, false, true, false, `.${f}.${process.pid}.tmp`);
    renameSync(tmp, join(dir, f));
  }
  say(`installed ${CUDA_PROVIDER_FILES.join(', ')} from ${file}`);
  return true;
}

function nuspecVersion(zip: AdmZip): string | undefined {
  const spec = zip.getEntries().find((e) => e.entryName.endsWith('.nuspec'));
  const m = spec ? /<version>([^<]+)<\/version>/.exec(spec.getData().toString('utf8')) : null;
  return m?.[1]?.trim();
}
