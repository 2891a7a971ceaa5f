/**
 * The daemon's engine: in a child process (engine-process.ts) so onnxruntime's synchronous native calls
 * never stall the WebSocket server, and a native crash or OOM kill costs one job, not the daemon.
 * IPA_BRIDGE_ENGINE_INPROCESS=1 (not documented for users) runs it in the daemon's own process, as
 * before: the responsiveness bench measures both.
 */
import type { Engine, RuntimeReport } from '../../engine/api.ts';
import { loadEngineFactory, type EngineFactoryOptions } from '../engine-loader.ts';
import type { Logger } from '../log.ts';
import { EngineProcess } from './engine-process.ts';

export { EngineProcess };

export function inProcessRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.IPA_BRIDGE_ENGINE_INPROCESS === '1';
}

/**
 * Creates the daemon's engine. Throws what the factory threw (or why the child could not start), so
 * the caller can run the daemon without an engine and tell clients why.
 * IPA_BRIDGE_ENGINE_STALL_MS overrides how long a job may go without progress before its child is killed.
 */
export async function startEngine(spec: string | undefined, options: EngineFactoryOptions, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<Engine> {
  let engine: Engine;
  if (inProcessRequested(env)) {
    log.warn('IPA_BRIDGE_ENGINE_INPROCESS=1: the engine runs in the daemon process (the daemon stalls during each step)');
    engine = await (await loadEngineFactory(spec))(options);
  } else {
    const stall = Number(env.IPA_BRIDGE_ENGINE_STALL_MS);
    engine = await EngineProcess.start({ spec, factory: options, log, ...(stall > 0 ? { stallMs: stall } : {}) });
  }
  if (engine.runtime) for (const line of providerLines(engine.runtime)) log[line.level](line.text);
  return engine;
}

/**
 * What the log says about the provider choice: one warning per candidate that was skipped (why, and
 * what to do), then the provider in use. Pure.
 */
export function providerLines(r: RuntimeReport): Array<{ level: 'info' | 'warn'; text: string }> {
  const lines: Array<{ level: 'info' | 'warn'; text: string }> = [];
  for (const p of r.probes) {
    if (p.ok || p.provider === r.provider) continue;
    // Providers this platform's onnxruntime never has (CoreML on Linux…) are not worth a line.
    if (!p.available && /^not in onnxruntime-node/.test(p.error ?? '')) continue;
    lines.push({ level: 'warn', text: `provider ${p.provider} skipped: ${p.error ?? 'probe failed'}${p.hint ? ` — ${p.hint}` : ''}` });
  }
  lines.push({ level: 'info', text: `provider ${r.provider}${r.fp16 ? ' (fp16)' : ''}${r.device ? ` on ${r.device}` : ''} — ${r.reason}` });
  return lines;
}
