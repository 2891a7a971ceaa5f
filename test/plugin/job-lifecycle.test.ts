/**
 * The client core both plugins run on (shared/plugin/job-lifecycle.ts, pending-jobs.ts), tested once
 * against a REAL daemon (test engine) over real sockets: a job end to end through the capture and insert
 * ports, a connection cut mid-job (resumed), a job the daemon never got (sent again under a new id),
 * cancel while running and while waiting for the connection, and a pending job collected by a later
 * session.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { BridgeClient, type JobOutcome, type SocketLike } from '../../shared/protocol/client.ts';
import type { JobMessage } from '../../shared/protocol/messages.ts';
import type { BridgeConnection } from '../../shared/plugin/connection.ts';
import { errorText, isCancelled } from '../../shared/plugin/errors.ts';
import { JobLifecycle, type JobPhase, type GenerationPorts } from '../../shared/plugin/job-lifecycle.ts';
import { PendingJobs, type KeyValueStore } from '../../shared/plugin/pending-jobs.ts';
import { connectTo, testConnection } from '../helpers/connection.ts';
import { useTestDaemon } from '../helpers/daemon.ts';
import { interceptSend } from '../helpers/socket-spy.ts';
import { waitFor } from '../helpers/wait.ts';

const daemon = useTestDaemon({ stepMs: 20 });

class MemoryStore implements KeyValueStore {
  readonly m = new Map<string, string>();
  load(k: string): string | null {
    return this.m.get(k) ?? null;
  }
  save(k: string, v: string | null): void {
    if (v === null) this.m.delete(k);
    else this.m.set(k, v);
  }
}

interface Rig {
  conn: BridgeConnection;
  store: MemoryStore;
  pending: PendingJobs;
  sockets: WebSocket[];
  phases: JobPhase[];
  lifecycle: JobLifecycle;
  close(): void;
}

/** `onSend` may swallow what a socket sends (return true), to play a job lost on the way. */
async function rig(o: { store?: MemoryStore; onSend?: (ws: WebSocket, data: unknown, index: number) => boolean } = {}): Promise<Rig> {
  const sockets: WebSocket[] = [];
  const conn = testConnection({
    client: 'core-test', openSocket: (url) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      const index = sockets.push(ws) - 1;
      interceptSend(ws, (data) => o.onSend?.(ws, data, index));
      return ws as unknown as SocketLike;
    },
    probe: true, backoff: { baseMs: 50, capMs: 200 },
  });
  const store = o.store ?? new MemoryStore();
  const pending = new PendingJobs(store, 'pending', Date.now);
  const phases: JobPhase[] = [];
  const lifecycle = new JobLifecycle({ connection: conn, pending, idPrefix: 'core', random: Math.random, now: Date.now }, {
    progress: (p) => {
      if (phases[phases.length - 1] !== p.phase) phases.push(p.phase);
    },
    preview: () => undefined,
  });
  await connectTo(conn, daemon);
  return { conn, store, pending, sockets, phases, lifecycle, close: () => conn.close() };
}

function textJob(jobId: string, prompt: string, steps = 8): JobMessage {
  return { type: 'job', jobId, prompt, seed: 11, steps, width: 64, height: 64, output: { format: 'raw-rgba8' } };
}

/** Ports that capture a text-only job and "insert" by keeping the outcome. */
function ports(prompt: string, seen: { inserted?: { outcome: JobOutcome; job: JobMessage }; pendingDuringRun?: number }, r: () => Rig, steps = 8): GenerationPorts<string> {
  return {
    capture: async (jobId) => ({ job: textJob(jobId, prompt, steps), inputs: {}, context: { where: 'layer 1' } }),
    insert: async (outcome, job) => {
      seen.inserted = { outcome, job };
      seen.pendingDuringRun = r().pending.list().length;
      return job.jobId;
    },
  };
}

test('a job end to end: capture, send, progress in order, insert, pending only while it runs', async () => {
  const r = await rig();
  const seen: { inserted?: { outcome: JobOutcome; job: JobMessage }; pendingDuringRun?: number } = {};
  const id = await r.lifecycle.run(ports('a lighthouse', seen, () => r));
  assert.match(id, /^core-/);
  assert.deepEqual(r.phases, ['reading', 'sending', 'queued', 'running', 'inserting']);
  assert.equal(seen.inserted!.outcome.result.metadata.params.prompt, 'a lighthouse');
  assert.equal(seen.pendingDuringRun, 1, 'pending while it runs');
  assert.deepEqual(r.pending.list(), [], 'forgotten once inserted');
  r.close();
});

test('a job the daemon limits refuse is a user error before anything is sent', async () => {
  const r = await rig();
  const refused = r.lifecycle.run({
    capture: async (jobId) => ({ job: { ...textJob(jobId, 'x'), width: 99_999 }, inputs: {}, context: {} }),
    insert: async () => assert.fail('nothing to insert'),
  });
  await assert.rejects(refused, (e) => /width/.test(errorText(e)));
  assert.ok(!r.phases.includes('sending'));
  r.close();
});

test('a connection cut mid-job: resumed on the next connection, the same job id', async () => {
  const r = await rig();
  const seen: { inserted?: { outcome: JobOutcome; job: JobMessage } } = {};
  const run = r.lifecycle.run(ports('storm', seen, () => r, 30));
  await waitFor(() => r.lifecycle.progress.phase === 'running' && r.lifecycle.progress.step >= 2);
  const firstId = r.lifecycle.progress.jobId;
  r.sockets[0].terminate();
  const id = await run;
  assert.equal(id, firstId, 'resumed, not sent again');
  assert.ok(r.phases.includes('reconnecting'), r.phases.join(' → '));
  assert.equal(seen.inserted!.outcome.result.metadata.params.prompt, 'storm');
  assert.deepEqual(r.pending.list(), []);
  r.close();
});

test('a job the daemon never got is sent again under a new id', async () => {
  let swallowed = false;
  const r = await rig({
    onSend: (ws, data, index) => {
      if (index !== 0 || typeof data !== 'string' || !data.includes('"type":"job"')) return false;
      swallowed = true;
      setTimeout(() => ws.terminate(), 20); // the job is lost with the connection
      return true;
    },
  });
  const seen: { inserted?: { outcome: JobOutcome; job: JobMessage } } = {};
  const run = r.lifecycle.run(ports('lost on the way', seen, () => r));
  const firstId = await waitFor(() => r.lifecycle.progress.jobId);
  const id = await run;
  assert.ok(swallowed);
  assert.notEqual(id, firstId, 'a new id: the old one may be held by a partial copy');
  assert.equal(seen.inserted!.job.jobId, id);
  assert.deepEqual(r.pending.list(), [], 'neither id is left pending');
  r.close();
});

test('cancel while running stops the job on the daemon; cancel while offline does not hang', async () => {
  const r = await rig();
  const running = r.lifecycle.run(ports('cancel me', {}, () => r, 150));
  await waitFor(() => r.lifecycle.progress.phase === 'running' && r.lifecycle.progress.step >= 1);
  r.lifecycle.cancel();
  await assert.rejects(running, (e) => isCancelled(e));
  assert.deepEqual(r.pending.list(), []);
  r.close();

  const offline = await rig();
  const second = new JobLifecycle({ connection: offline.conn, pending: offline.pending, idPrefix: 'core', random: Math.random, now: Date.now }, { progress: () => undefined, preview: () => undefined });
  const waiting = second.run(ports('offline', {}, () => offline, 150));
  await waitFor(() => second.progress.phase === 'running');
  offline.conn.configure(null); // no token: it will not reconnect
  offline.sockets[0].terminate();
  await waitFor(() => second.progress.phase === 'reconnecting');
  second.cancel();
  await assert.rejects(waiting, (e) => isCancelled(e));
  offline.close();
});

test('a job left pending by a closed session is collected by the next one', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${daemon.port}/?token=${daemon.token}`, { perMessageDeflate: false });
  const old = new BridgeClient(ws as unknown as SocketLike, { name: 'old', version: '0' });
  await new Promise<void>((resolve) => void old.submit(textJob('core-left-1', 'after reload'), {}, { onAccepted: () => resolve() }).catch(() => undefined));
  ws.terminate();
  const store = new MemoryStore();
  new PendingJobs(store, 'pending', Date.now).add({ jobId: 'core-left-1', at: Date.now(), context: { where: 'layer 7' } });
  new PendingJobs(store, 'pending', Date.now).add({ jobId: 'core-unknown-1', at: Date.now(), context: {} });
  const r = await rig({ store });
  const found = await r.pending.recover(r.conn.client!);
  assert.deepEqual(found.map((f) => [f.pending.jobId, f.pending.context.where, f.outcome.result.metadata.params.prompt]), [['core-left-1', 'layer 7', 'after reload']]);
  assert.equal(store.load('pending'), null, 'both forgotten: one collected, one unknown to the daemon');
  r.close();
});
