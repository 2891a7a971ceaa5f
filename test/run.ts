/**
 * `npm test`: every test/**\/*.test.ts through node's test runner (real processes, real sockets,
 * real onnxruntime sessions). The parity fixtures run as tests in test/engine/parity.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/** WebGPU (Dawn on Vulkan) on Linux needs XDG_RUNTIME_DIR; tests get a private one when it is unset. */
function runtimeDir(): string | undefined {
  if (process.platform !== 'linux' || process.env.XDG_RUNTIME_DIR) return process.env.XDG_RUNTIME_DIR;
  const dir = join(tmpdir(), `ipa-bridge-xdg-${process.getuid?.() ?? 'user'}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

const filter = process.argv.slice(2);
const files = findTests(join(root, 'test')).filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)));
console.log(`running ${files.length} test files`);
const res = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files.map((f) => relative(root, f))], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, IPA_BRIDGE_TEST: '1', XDG_RUNTIME_DIR: runtimeDir() },
});
process.exit(res.status ?? 1);
