/**
 * The engine child process (bridge/engine-host) with the test engine in a real forked process over real
 * IPC: results and progress cross the boundary, cancel lands within a step, and a child that is killed,
 * hangs, runs out of memory or keeps dying at start never leaves a call hanging.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CancelledError, EngineError, type GenerateRequest, type ProgressEvent } from '../../engine/api.ts';
import { EngineProcess } from '../../bridge/engine-host/engine-process.ts';
import { createLogger } from '../../bridge/log.ts';

const lines: string[] = [];
const log = createLogger(true, (l) => lines.push(l));
const tmp = mkdtempSync(join(tmpdir(), 'ipa-engine-proc-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function request(prompt: string, steps = 3, size = 64): GenerateRequest {
  return {
    params: { prompt, negativePrompt: '', seed: 5, steps, sampler: 'euler', guidance: 7, width: size, height: size, strength: 1, batchSize: 1, clipSkip: 1 },
    init: { width: size, height: size, data: new Uint8Array(size * size * 4).fill(9) },
    references: [],
    controls: [],
  };
}

async function start(env: Record<string, string> = {}, extra: Partial<Parameters<typeof EngineProcess.start>[0]> = {}): Promise<EngineProcess> {
  return EngineProcess.start({ spec: 'test', factory: { provider: 'cpu' }, log, env: { ...process.env, IPA_TEST_ENGINE_STEP_MS: '50', ...env }, ...extra });
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('a job runs in the child: images, metadata and progress with previews cross the boundary', async () => {
  const ep = await start();
  try {
    assert.equal(ep.provider, 'cpu');
    assert.ok(ep.pid && ep.pid !== process.pid && alive(ep.pid));
    assert.ok(lines.some((l) => l.includes(`engine process pid=${ep.pid} ready`)), 'the pid is in the log line');
    const progress: ProgressEvent[] = [];
    const res = await ep.generate(request('a red apple [init]', 3, 96), { wantPreview: true, onProgress: (e) => progress.push(e) });
    assert.deepEqual(progress.map((e) => e.step), [1, 2, 3]);
    assert.ok(progress[0].preview?.data instanceof Uint8Array, 'previews arrive as typed arrays');
    assert.equal(res.images.length, 1);
    assert.ok(res.images[0].data instanceof Uint8Array);
    assert.equal(res.images[0].data.length, 96 * 96 * 4);
    assert.equal(res.metadata.engine, 'test-engine/cpu');
    const models = await ep.listModels();
    assert.ok(models.some((m) => m.kind === 'checkpoint'));
  } finally {
    await ep.dispose();
  }
});

test('cancel stops the job at the next step boundary; the same child runs the next job', async () => {
  const ep = await start();
  try {
    const pid = ep.pid;
    const ac = new AbortController();
    let t0 = 0;
    const p = ep.generate(request('cancel me', 200), {
      signal: ac.signal,
      onProgress: (e) => {
        if (e.step === 2) {
          t0 = Date.now();
          ac.abort();
        }
      },
    });
    const e = await rejection(p);
    assert.ok(e instanceof CancelledError, `cancelled, got ${e}`);
    assert.ok(Date.now() - t0 < 1000, `stopped within a step (${Date.now() - t0} ms)`);
    const res = await ep.generate(request('after cancel', 1));
    assert.equal(res.images.length, 1);
    assert.equal(ep.pid, pid, 'no restart for a cancel');
  } finally {
    await ep.dispose();
  }
});

test('a child killed mid-job: the job fails with engine-crashed, the next job runs on a new child', async () => {
  const ep = await start();
  try {
    const pid = ep.pid!;
    const p = ep.generate(request('killed', 100), { onProgress: (e) => e.step === 2 && process.kill(pid, 'SIGKILL') });
    const e = await rejection(p);
    assert.ok(e instanceof EngineError && e.code === 'engine-crashed', `engine-crashed, got ${e}`);
    assert.match(e.message, /SIGKILL/);
    assert.match(e.message, /restarts/);
    const res = await ep.generate(request('next one', 2));
    assert.equal(res.images.length, 1);
    assert.ok(ep.pid && ep.pid !== pid, 'a new child');
  } finally {
    await ep.dispose();
  }
});

test('a child that dies on its own: the error says how, with its last output and a memory hint', async () => {
  const ep = await start();
  try {
    const e = await rejection(ep.generate(request('[engine-exit]', 2)));
    assert.ok(e instanceof EngineError && e.code === 'engine-crashed', `engine-crashed, got ${e}`);
    assert.match(e.message, /exited unexpectedly with code 7/);
    assert.match(e.message, /last output: test engine: terminate called after throwing an instance of std::bad_alloc/);
    assert.match(e.message, /ran out of memory: try a smaller size/);
    assert.ok(lines.some((l) => l.includes('engine: test engine: terminate called')), 'the child output is in the daemon log');
    assert.equal((await ep.generate(request('after the crash', 1))).images.length, 1);
  } finally {
    await ep.dispose();
  }
});

test('a child that hangs inside a step is killed after the stall timeout; the job fails, the next one runs', async () => {
  const ep = await start({}, { stallMs: 1500 });
  try {
    const pid = ep.pid!;
    const t0 = Date.now();
    const e = await rejection(ep.generate(request('[engine-hang]', 3)));
    assert.ok(e instanceof EngineError && e.code === 'engine-crashed', `engine-crashed, got ${e}`);
    assert.match(e.message, /stopped responding/);
    assert.ok(Date.now() - t0 < 6000, `failed in ${Date.now() - t0} ms`);
    assert.equal(alive(pid), false, 'the hung child is gone');
    assert.equal((await ep.generate(request('after the hang', 1))).images.length, 1);
  } finally {
    await ep.dispose();
  }
});

test('cancelling a hung job kills the child after the grace period: the job is cancelled, not hung', async () => {
  const ep = await start({}, { cancelGraceMs: 500 });
  try {
    const ac = new AbortController();
    const p = ep.generate(request('[engine-hang]', 3), { signal: ac.signal });
    setTimeout(() => ac.abort(), 300);
    const t0 = Date.now();
    const e = await rejection(p);
    assert.ok(e instanceof CancelledError, `cancelled, got ${e}`);
    assert.ok(Date.now() - t0 < 3000);
    assert.equal((await ep.generate(request('after', 1))).images.length, 1);
  } finally {
    await ep.dispose();
  }
});

test('an allocation failure in the engine becomes out-of-memory with what to try', async () => {
  const ep = await start();
  try {
    const pid = ep.pid;
    const e = await rejection(ep.generate(request('[engine-oom]', 2, 512)));
    assert.ok(e instanceof EngineError && e.code === 'out-of-memory', `out-of-memory, got ${e}`);
    assert.match(e.message, /smaller size/);
    assert.match(e.message, /Failed to allocate memory/, 'the original text is kept');
    assert.equal(ep.pid, pid, 'the child survives an error it reported');
  } finally {
    await ep.dispose();
  }
});

test('the model list is answered from the cache while the child is inside a synchronous step', async () => {
  const ep = await start();
  try {
    await ep.listModels();
    const job = ep.generate(request('[engine-block:1500]', 1));
    await new Promise((r) => setTimeout(r, 300)); // the child is now blocked
    const t0 = performance.now();
    const models = await ep.listModels();
    assert.ok(performance.now() - t0 < 100, `listModels took ${performance.now() - t0} ms`);
    assert.ok(models.length > 0);
    await job;
  } finally {
    await ep.dispose();
  }
});

test('a factory that fails makes start() fail with its message (the daemon then runs without an engine)', async () => {
  const e = await rejection(EngineProcess.start({ spec: join(tmp, 'no-such-engine.ts'), factory: { provider: 'cpu' }, log }));
  assert.match(e.message, /does not exist/);
});

test('a child that keeps dying at start: bounded retries with backoff, then engine-unavailable, then recovery', async () => {
  const flag = join(tmp, 'die');
  const ep = await start({ IPA_TEST_ENGINE_DIE_AT_START: flag }, { restartDelaysMs: [0, 50, 50], retryAfterMs: 1500 });
  try {
    const before = lines.length;
    writeFileSync(flag, '');
    const pid = ep.pid!;
    process.kill(pid, 'SIGKILL');
    await waitFor(() => lines.some((l) => l.includes(`pid=${pid} was killed`)));
    const e = await rejection(ep.generate(request('while dying', 1)));
    assert.ok(e instanceof EngineError && e.code === 'engine-unavailable', `engine-unavailable, got ${e}`);
    const fails = lines.slice(before).filter((l) => l.includes('failed to start')).length;
    assert.ok(fails >= 2 && fails <= 4, `a bounded number of attempts (${fails})`);
    assert.ok(lines.slice(before).some((l) => /failed \d+ times in a row/.test(l)));
    // Paused: answered at once, no new attempt.
    const e2 = await rejection(ep.generate(request('still paused', 1)));
    assert.match(e2.message, /tries again in/);
    assert.equal(lines.slice(before).filter((l) => l.includes('failed to start')).length, fails);
    rmSync(flag);
    await new Promise((r) => setTimeout(r, 1600));
    assert.equal((await ep.generate(request('recovered', 1))).images.length, 1);
  } finally {
    await ep.dispose();
  }
});

test('dispose ends the child', async () => {
  const ep = await start();
  const pid = ep.pid!;
  await ep.dispose();
  assert.equal(alive(pid), false);
  const e = await rejection(ep.generate(request('after dispose', 1)));
  assert.ok(e instanceof EngineError && e.code === 'engine-unavailable');
});

test('dispose during a restart backoff returns at once', async () => {
  const flag = join(tmp, 'die-dispose');
  const ep = await start({ IPA_TEST_ENGINE_DIE_AT_START: flag }, { restartDelaysMs: [0, 30_000] });
  writeFileSync(flag, '');
  const pid = ep.pid!;
  process.kill(pid, 'SIGKILL');
  await waitFor(() => lines.some((l) => l.includes('next start in 30 s')), 10_000);
  const t0 = Date.now();
  await ep.dispose();
  assert.ok(Date.now() - t0 < 2000, `dispose took ${Date.now() - t0} ms`);
  rmSync(flag);
});

test('the engine process runs below normal priority (the daemon keeps a core for its sockets)', { skip: process.platform !== 'linux' }, async () => {
  const ep = await start();
  try {
    // /proc/PID/stat field 19 is the nice value; the command name (field 2) may hold spaces, so split after ")".
    const stat = readFileSync(`/proc/${ep.pid}/stat`, 'utf8');
    const nice = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    assert.ok(nice > 0, `nice ${nice}`);
  } finally {
    await ep.dispose();
  }
});
