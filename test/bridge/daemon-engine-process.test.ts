/**
 * The engine in its own process, through a real daemon and real WebSocket clients: while the engine
 * is blocked inside synchronous steps (as onnxruntime's `session.run` blocks), other connections get
 * pings answered and new connections their welcome; when the engine process is SIGKILLed mid-job, that
 * job fails with `engine-crashed`, the queued job after it succeeds on a restarted engine, and every
 * connection stays open. Also the out-of-memory message end to end, and the in-process switch.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { TestClient } from '../helpers/ws-client.ts';

let d: TestDaemon;

before(async () => {
  d = await startTestDaemon({ stepMs: 20, args: ['--provider', 'cpu'] });
});

after(async () => {
  await d.stop();
});

const small = { width: 64, height: 64 };

/** Every engine pid the daemon announced, in order. */
function enginePids(log: string): number[] {
  return [...log.matchAll(/engine process pid=(\d+) ready/g)].map((m) => Number(m[1]));
}

async function waitFor<T>(get: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Pings every `everyMs` until stopped; resolves with the round trips. */
function pinger(c: TestClient, everyMs: number): { stop(): Promise<number[]> } {
  const rtts: number[] = [];
  let running = true;
  const loop = (async () => {
    for (let n = 0; running; n++) {
      const t0 = performance.now();
      c.send({ type: 'ping', nonce: n });
      await c.json((m) => m.type === 'pong' && m.nonce === n, 10_000);
      rtts.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return rtts;
    },
  };
}

test('the engine runs in a child process, named with its pid in the log', async () => {
  const pid = (await waitFor(() => enginePids(d.log())[0]))!;
  assert.notEqual(pid, d.proc.pid);
  process.kill(pid, 0); // alive
});

test('while the engine blocks inside its steps, pings and new connections are answered at once', async () => {
  const { c: a } = await TestClient.connect(d.url());
  const { c: b } = await TestClient.connect(d.url());
  // 6 steps that each block the engine process for 400 ms, as a UNet step blocks onnxruntime's caller.
  a.send({ type: 'job', jobId: 'blocking', prompt: 'busy [engine-block:400]', steps: 6, ...small });
  await a.expect('progress', 'blocking', 10_000);
  const p = pinger(b, 50);
  const hellos: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const { c } = await TestClient.connect(d.url());
    hellos.push(performance.now() - t0);
    c.close();
    await new Promise((r) => setTimeout(r, 150));
  }
  const res = await a.expect('result', 'blocking', 20_000);
  const rtts = await p.stop();
  assert.equal(res.images.length, 1);
  assert.ok(rtts.length >= 10, `pinged throughout (${rtts.length})`);
  // In-process, a round trip would wait for the 400 ms step; here it stays far below.
  assert.ok(Math.max(...rtts) < 200, `ping round trips ${rtts.map((x) => x.toFixed(0)).join(' ')} ms`);
  assert.ok(Math.max(...hellos) < 300, `hello → welcome ${hellos.map((x) => x.toFixed(0)).join(' ')} ms`);
  a.close();
  b.close();
});

test('engine process killed mid-job: engine-crashed for that job, the queued job succeeds, other connections unaffected', async () => {
  const pidsBefore = enginePids(d.log());
  const pid = pidsBefore.at(-1)!;
  const { c: a } = await TestClient.connect(d.url());
  const { c: b } = await TestClient.connect(d.url());
  a.send({ type: 'job', jobId: 'doomed', prompt: 'doomed', steps: 150, ...small });
  await a.expect('accepted', 'doomed');
  b.send({ type: 'job', jobId: 'queued-after', prompt: 'next in line', steps: 3, ...small });
  assert.equal((await b.expect('accepted', 'queued-after')).position, 1);
  const watcher = pinger(b, 50);
  await a.expect('progress', 'doomed');
  process.kill(pid, 'SIGKILL');

  const err = await a.expect('error', 'doomed', 10_000);
  assert.equal(err.code, 'engine-crashed');
  assert.match(err.message, /killed \(SIGKILL/);
  assert.match(err.message, /restarts/);
  const res = await b.expect('result', 'queued-after', 20_000);
  assert.equal(res.images.length, 1);
  const rtts = await watcher.stop();
  assert.ok(rtts.length > 0 && Math.max(...rtts) < 1000, `b stayed responsive (${rtts.map((x) => x.toFixed(0)).join(' ')} ms)`);

  const pidsAfter = enginePids(d.log());
  assert.equal(pidsAfter.length, pidsBefore.length + 1, 'one restart');
  assert.notEqual(pidsAfter.at(-1), pid);
  assert.match(d.log(), new RegExp(`engine process pid=${pid} was killed`));
  assert.match(d.log(), /job doomed .* error engine-crashed/);
  // Both connections are still open and usable; so is a new one.
  a.send({ type: 'ping', nonce: 'a' });
  await a.json((m) => m.type === 'pong');
  const { c, welcome } = await TestClient.connect(d.url());
  assert.equal(welcome.capabilities.provider, 'cpu');
  c.send({ type: 'job', jobId: 'after-crash', prompt: 'fine again', steps: 2, ...small });
  assert.equal((await c.expect('result', 'after-crash', 10_000)).images.length, 1);
  for (const x of [a, b, c]) x.close();
  assert.equal(d.proc.exitCode, null, 'the daemon never went down');
});

test('an allocation failure reaches the client as out-of-memory with what to try', async () => {
  const { c } = await TestClient.connect(d.url());
  c.send({ type: 'job', jobId: 'oom', prompt: 'huge [engine-oom]', steps: 2, width: 512, height: 512 });
  const e = await c.expect('error', 'oom', 10_000);
  assert.equal(e.code, 'out-of-memory');
  assert.match(e.message, /^out of system memory \(RAM\) while generating 512×512: try a smaller size/);
  c.close();
});

test('IPA_BRIDGE_ENGINE_INPROCESS=1 keeps the engine in the daemon process (for measuring the old way)', async () => {
  const inproc = await startTestDaemon({ env: { IPA_BRIDGE_ENGINE_INPROCESS: '1' } });
  try {
    const { c } = await TestClient.connect(inproc.url());
    c.send({ type: 'job', jobId: 'in', prompt: 'in process', steps: 2, ...small });
    assert.equal((await c.expect('result', 'in')).images.length, 1);
    c.close();
    assert.deepEqual(enginePids(inproc.log()), []);
  } finally {
    await inproc.stop();
  }
});

test('a daemon that is SIGKILLed leaves no engine process behind', async () => {
  const other = await startTestDaemon();
  const pid = await waitFor(() => enginePids(other.log())[0]);
  await other.stop('SIGKILL');
  // The child sees its IPC channel close and exits.
  await waitFor(() => {
    try {
      process.kill(pid, 0);
      return undefined;
    } catch {
      return true;
    }
  }, 5000);
});

test('the real engine (tiny models) in its child process: the handshake reports its runtime, a job runs', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { writeTinyModels } = await import('../../engine/index.ts');
  const dir = mkdtempSync(join(tmpdir(), 'ipa-tiny-'));
  await writeTinyModels(dir);
  const real = await startTestDaemon({ args: ['--engine', 'default', '--models', dir, '--provider', 'cpu'] });
  try {
    const { c, welcome } = await TestClient.connect(real.url());
    assert.equal(welcome.capabilities.provider, 'cpu');
    assert.equal(welcome.capabilities.fp16, false, 'Engine.runtime crossed the process boundary');
    c.send({ type: 'job', jobId: 'real', prompt: 'a red apple', steps: 1, ...small });
    assert.equal((await c.expect('result', 'real', 60_000)).images.length, 1);
    c.close();
    assert.equal(enginePids(real.log()).length, 1);
  } finally {
    await real.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
