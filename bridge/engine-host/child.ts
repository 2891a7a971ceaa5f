/**
 * The engine child process: forked by EngineProcess (engine-process.ts), it creates the engine with the
 * daemon's factory (engine-loader.ts: the real engine, or `--engine test`) and serves generate /
 * list-models calls over IPC. onnxruntime's session creation and `run` are synchronous native calls:
 * here they block only this process, and a native crash or an OOM kill takes only this process down.
 * Cancel messages are read between onnxruntime calls (each run is a fresh setImmediate), so they land
 * at the next step boundary as they did in-process.
 *
 * Bundled as dist/bridge/engine-child.mjs (esbuild.config.mjs); run from source under tsx.
 */
import { constants, setPriority } from 'node:os';
import type { Engine } from '../../engine/api.ts';
import { loadEngineFactory } from '../engine-loader.ts';
import { outOfMemoryError } from './out-of-memory.ts';
import { DESCRIBED_FIELDS, isToChild, toWireError, type EngineDescription, type FromChild, type ToChild } from './protocol.ts';

const send = (m: FromChild, then?: () => void): void => {
  // A send after the parent went away throws ERR_IPC_CHANNEL_CLOSED; the 'disconnect' handler exits.
  if (process.connected) process.send!(m, undefined, {}, then);
};

let engine: Engine | undefined;
const running = new Map<number, AbortController>();

async function init(m: Extract<ToChild, { type: 'init' }>): Promise<void> {
  const t0 = performance.now();
  try {
    const factory = await loadEngineFactory(m.spec);
    engine = await factory(m.options);
    const description = Object.fromEntries(DESCRIBED_FIELDS.map((k) => [k, engine![k]])) as unknown as EngineDescription;
    send({ type: 'ready', engine: description, startMs: Math.round(performance.now() - t0) });
  } catch (e) {
    send({ type: 'start-failed', error: toWireError(e) }, () => process.exit(1));
  }
}

async function generate(m: Extract<ToChild, { type: 'generate' }>): Promise<void> {
  const controller = new AbortController();
  running.set(m.id, controller);
  try {
    if (!engine) throw new Error('generate before the engine was ready');
    const result = await engine.generate(m.request, {
      signal: controller.signal,
      wantPreview: m.wantPreview,
      onProgress: (event) => send({ type: 'progress', id: m.id, event }),
    });
    send({ type: 'result', id: m.id, result });
  } catch (e) {
    const p = m.request.params;
    const oom = outOfMemoryError(e, { provider: engine?.provider ?? 'cpu', width: p.width, height: p.height, batchSize: p.batchSize });
    send({ type: 'failed', id: m.id, error: toWireError(oom ?? e) });
  } finally {
    running.delete(m.id);
  }
}

async function listModels(id: number): Promise<void> {
  try {
    if (!engine) throw new Error('list-models before the engine was ready');
    send({ type: 'models', id, models: await engine.listModels() });
  } catch (e) {
    send({ type: 'failed', id, error: toWireError(e) });
  }
}

async function dispose(): Promise<void> {
  for (const c of running.values()) c.abort();
  try {
    await engine?.dispose();
  } finally {
    send({ type: 'disposed' }, () => process.exit(0));
  }
}

function onMessage(m: unknown): void {
  if (!isToChild(m)) return;
  switch (m.type) {
    case 'init': void init(m); break;
    case 'generate': void generate(m); break;
    case 'cancel': running.get(m.id)?.abort(); break;
    case 'list-models': void listModels(m.id); break;
    case 'dispose': void dispose(); break;
  }
}

if (!process.send) {
  process.stderr.write('ipa-bridge engine child: start it through the daemon (it talks over an IPC channel)\n');
  process.exit(2);
}
// Below-normal priority, set before onnxruntime creates its threads (they inherit it): the daemon's
// event loop, the editor and the desktop get a core the moment they need one, and inference takes
// the rest. bench/responsiveness.ts, full-size 512² job on 2 busy cores: ping p99 70.8 ms at normal
// priority, 24.4 ms below normal, with the job no slower.
try {
  setPriority(constants.priority.PRIORITY_BELOW_NORMAL);
} catch {
  // not permitted here (some containers): run at the inherited priority
}
// The daemon decides when this process ends: Ctrl-C in a terminal signals the whole process group,
// and the daemon's own shutdown (cancel, dispose) must not race an engine that already died.
process.on('SIGINT', () => undefined);
// The daemon went away (even SIGKILLed): nothing is left to serve.
process.on('disconnect', () => process.exit(0));
process.on('message', onMessage);
send({ type: 'booted', pid: process.pid });
