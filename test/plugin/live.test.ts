/**
 * Live mode's controller (shared/plugin/live.ts) against a REAL daemon (test engine) over real
 * sockets: edits debounced into one job, one job in flight at a time, a stale job cancelled on the
 * daemon when a newer edit arrives, unchanged inputs sent by hash (counted on the wire), the seed fixed
 * while live, and an edit made while offline run once the connection is back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type WebSocket from 'ws';
import type { JobOutcome } from '../../shared/protocol/client.ts';
import type { JobMessage } from '../../shared/protocol/messages.ts';
import type { BridgeConnection } from '../../shared/plugin/connection.ts';
import { LiveController, type LivePhase } from '../../shared/plugin/live.ts';
import { connectTo, testConnection } from '../helpers/connection.ts';
import { useTestDaemon } from '../helpers/daemon.ts';
import { emptyWire, spySocket, type Wire } from '../helpers/socket-spy.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const daemon = useTestDaemon({ stepMs: 20 });

const SIDE = 64;

/** A 64² "document": the init changes with each edit, the reference layer never does. */
function pixels(seed: number): Uint8Array {
  const d = new Uint8Array(SIDE * SIDE * 4);
  for (let i = 0; i < d.length; i++) d[i] = (i * 7 + seed * 31) & 0xff;
  return d;
}

interface Rig {
  conn: BridgeConnection;
  live: LiveController;
  /** Binary frames and job messages sent on the wire. */
  wire: Wire;
  shown: Array<{ outcome: JobOutcome; job: JobMessage }>;
  phases: LivePhase[];
  errors: unknown[];
  sockets: WebSocket[];
  /** The document's state: bump it and call live.edit() to "paint". */
  doc: { version: number; steps: number };
  close(): void;
}

async function rig(debounceMs = 40): Promise<Rig> {
  const wire = emptyWire();
  const sockets: WebSocket[] = [];
  const conn = testConnection({
    client: 'live-test', openSocket: (url) => {
      const ws = spySocket(url, wire);
      sockets.push(ws);
      return ws;
    },
    probe: true, backoff: { baseMs: 50, capMs: 200 },
  });
  const doc = { version: 0, steps: 4 };
  const reference = pixels(999);
  const shown: Rig['shown'] = [];
  const phases: LivePhase[] = [];
  const errors: unknown[] = [];
  const live = new LiveController(
    { connection: conn, idPrefix: 'live', random: Math.random, now: Date.now, setTimer: (fn, ms) => setTimeout(fn, ms), clearTimer: (h) => clearTimeout(h as NodeJS.Timeout), debounceMs },
    {
      capture: async (jobId, _caps, seed) => ({
        job: {
          type: 'job', jobId, prompt: `edit ${doc.version}`, seed, steps: doc.steps, sampler: 'lcm', guidance: 1, strength: 0.5,
          width: SIDE, height: SIDE, init: { source: 'frame' }, references: [{ source: 'frame', scale: 0.7 }],
          draftDecode: true, output: { format: 'raw-rgba8', preview: true },
        },
        inputs: {
          init: { format: 'raw-rgba8', width: SIDE, height: SIDE, data: pixels(doc.version) },
          references: [{ format: 'raw-rgba8', width: SIDE, height: SIDE, data: reference }],
        },
      }),
      show: async (outcome, job) => void shown.push({ outcome, job }),
    },
    {
      phase: (p) => {
        if (phases[phases.length - 1] !== p) phases.push(p);
      },
      preview: () => undefined,
      error: (e) => void errors.push(e),
    },
  );
  await connectTo(conn, daemon);
  return { conn, live, wire, shown, phases, errors, sockets, doc, close: () => { live.stop(); conn.close(); } };
}

/** Live started with a slow first job (`steps` long) at `seed`; returns once the daemon has been running it for a moment. */
async function rigRunningSlowJob(debounceMs: number, steps: number, seed: number): Promise<Rig> {
  const r = await rig(debounceMs);
  r.doc.steps = steps;
  r.live.start(seed);
  await waitFor(() => r.wire.jobs.length === 1);
  await sleep(100);
  return r;
}

test('start runs at once; a burst of edits is one job after the quiet time; unchanged inputs go by hash', async () => {
  const r = await rig(60);
  r.live.start(1234);
  await waitFor(() => r.shown.length === 1);
  assert.equal(r.wire.frames.length, 2, 'first job: init and reference sent as frames');
  for (let i = 0; i < 6; i++) {
    r.doc.version++;
    r.live.edit();
    await sleep(10); // faster than the debounce
  }
  await waitFor(() => r.shown.length === 2);
  await sleep(150);
  assert.equal(r.live.stats.jobs, 2, 'six edits in a burst → one job');
  assert.equal(r.wire.jobs.length, 2);
  assert.equal(r.shown[1].job.prompt, 'edit 6', 'the job saw the document after the last edit');
  assert.equal(r.wire.frames.length, 3, 'second job: only the edited init crossed the wire');
  assert.equal(r.wire.jobs[1].references?.[0].source, 'hash', 'the unchanged reference went as a hash reference');
  assert.deepEqual([r.live.stats.framesSent, r.live.stats.sentByHash], [3, 1]);
  assert.deepEqual(r.shown.map((s) => s.outcome.result.metadata.params.seed), [1234, 1234], 'the seed stays fixed while live');
  assert.deepEqual(r.errors, []);
  r.close();
});

test('an edit while a job runs cancels it on the daemon; one job in flight at a time; only fresh results are shown', async () => {
  const r = await rig(30);
  r.doc.steps = 40; // 40 × 20 ms: long enough to edit while it runs
  r.live.start(77);
  await waitFor(() => r.phases.includes('running') && r.wire.jobs.length === 1);
  await sleep(200); // running on the daemon now
  r.doc.version = 1;
  r.live.edit();
  await sleep(5);
  r.doc.version = 2;
  r.live.edit(); // a second edit during the debounce: still one new job
  await waitFor(() => r.shown.length === 1, 20_000);
  assert.equal(r.shown[0].job.prompt, 'edit 2', 'the stale job\'s result was never shown');
  assert.equal(r.live.stats.jobs, 2);
  assert.equal(r.live.stats.cancelled, 1, 'the running job was cancelled once (the second edit found nothing running)');
  assert.equal(r.live.stats.maxInFlight, 1);
  assert.deepEqual(r.errors, []);
  r.close();
});

test('an edit while the cancelled job is still ending waits for it (single flight), then runs once', async () => {
  const r = await rigRunningSlowJob(0, 30, 5);
  // Edits with no debounce: each fires at once while the previous job is still winding down.
  for (let v = 1; v <= 4; v++) {
    r.doc.version = v;
    r.live.edit();
    await sleep(2);
  }
  r.doc.steps = 3;
  await waitFor(() => r.shown.length >= 1, 20_000);
  await sleep(300);
  assert.equal(r.live.stats.maxInFlight, 1, 'never two live jobs on the daemon');
  assert.equal(r.shown[r.shown.length - 1].job.prompt, 'edit 4');
  assert.equal(r.shown.length, 1, 'no stale result was shown');
  assert.equal(r.live.stats.cancelled, r.live.stats.jobs - 1, 'every job but the last was cancelled');
  r.close();
});

test('stop cancels the running job; an edit made while offline runs when the connection is back', async () => {
  const r = await rigRunningSlowJob(20, 60, 9);
  r.live.stop();
  assert.equal(r.live.stats.cancelled, 1);
  assert.deepEqual(r.phases.slice(-1), ['off']);
  await sleep(200);
  assert.equal(r.shown.length, 0);

  r.doc.steps = 3;
  r.live.start(9);
  await waitFor(() => r.shown.length === 1);
  r.sockets[r.sockets.length - 1].terminate();
  await waitFor(() => r.conn.state.phase !== 'connected');
  r.doc.version = 5;
  r.live.edit();
  await waitFor(() => r.phases.includes('offline') || r.shown.length === 2);
  await waitFor(() => r.shown.length === 2, 20_000);
  assert.equal(r.shown[1].job.prompt, 'edit 5');
  // A new connection knows no hashes: both inputs were sent again.
  assert.equal(r.shown[1].outcome.result.metadata.params.seed, 9);
  r.close();
});
