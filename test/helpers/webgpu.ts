/**
 * Is a WebGPU adapter usable here? Decided by running a tiny graph on the WebGPU provider in a child
 * process (test/helpers/webgpu-probe.ts) with a time limit, so a missing adapter, a Dawn crash or a
 * hang cannot take the test process down. On Linux, Dawn's Vulkan backend needs XDG_RUNTIME_DIR
 * (test/run.ts sets a private one).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export interface WebGpuProbe {
  readonly ok: boolean;
  /** Why not, when !ok. */
  readonly reason: string;
}

const ROOT = join(import.meta.dirname, '..', '..');
let cached: WebGpuProbe | undefined;

export function probeWebGpu(timeoutMs = 90_000): WebGpuProbe {
  if (cached) return cached;
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/helpers/webgpu-probe.ts'], { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' });
  const out = `${r.stdout ?? ''}`;
  if (/^webgpu ok$/m.test(out)) cached = { ok: true, reason: '' };
  else {
    const why = r.error?.message ?? (r.signal ? `probe killed by ${r.signal}` : `probe exited ${r.status}`);
    // The error line, not the stack or Dawn's limit warnings.
    const lines = `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').map((l) => l.trim());
    const tail = (lines.find((l) => /error/i.test(l) && !l.startsWith('at ')) ?? lines.filter((l) => l && !l.startsWith('at ') && !/^Node\.js v|artificially reduced/.test(l)).pop() ?? '').slice(0, 300);
    cached = { ok: false, reason: `${why}${tail ? `: ${tail}` : ''}` };
  }
  return cached;
}
