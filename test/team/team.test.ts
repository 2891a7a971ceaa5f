/**
 * The studio server with real parts: a private redis-server (appendonly, no snapshots), the front
 * (`team serve`, TLS with its generated self-signed certificate, pinned by the clients) and two workers
 * (`team worker --engine test`, BullMQ lock 2 s, stalled check every 1 s) as processes, users made with
 * `team user add`, raw WebSocket clients that count every message.
 * Cases: 3 users × 20 jobs round-robin; per-user cancel/resume isolation; a worker SIGKILLed mid-job;
 * the front restarted; Redis stopped and started again; TLS pinning (a wrong fingerprint refused).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { get as httpsGet } from 'node:https';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { FingerprintMismatchError } from '../../bridge/team/pin.ts';
import { teamKeys } from '../../bridge/team/contract.ts';
import { UserStore } from '../../bridge/team/users.ts';
import { connectTeam } from '../../bridge/team/connect.ts';
import type { JobMessage } from '../../shared/protocol/messages.ts';
import { TeamClient } from './client.ts';
import { closedPort } from '../helpers/ports.ts';
import { writeTinyModels } from '../../engine/index.ts';
import WebSocket from 'ws';
import { BridgeConnection, targetFor } from '../../shared/plugin/connection.ts';
import type { BackoffOptions, ConnectionState } from '../../shared/plugin/reconnect.ts';
import { JobLifecycle } from '../../shared/plugin/job-lifecycle.ts';
import { PendingJobs } from '../../shared/plugin/pending-jobs.ts';
import type { SocketLike } from '../../shared/protocol/client.ts';
import { addUser, ROOT, runCli, startFront, startWorker, TestRedis, type Proc } from './helpers.ts';

const STEP_MS = 20;
let redis: TestRedis;
let dataDir: string;
let front: Proc & { url: string; fingerprint?: string };
let frontPort: number;
const workers: Proc[] = [];
const tokens: Record<string, string> = {};
const clients: TeamClient[] = [];

const FRONT_ARGS = ['--job-burst', '200', '--job-rate', '200', '--max-jobs-per-user', '40', '--verbose'];

before(async () => {
  redis = await TestRedis.start();
  dataDir = mkdtempSync(join(tmpdir(), 'ipa-team-'));
  // alice through the command (its token is the last line it prints), the others directly (faster).
  const r = new Redis(redis.url);
  const store = new UserStore(r, teamKeys('ipa'));
  const [alice, bob, carol, dave, started, w1, w2] = await Promise.all([
    addUser(redis.url, 'alice'), store.add('bob'), store.add('carol'), store.add('dave'),
    startFront({ redis: redis.url, dataDir, tls: true, args: FRONT_ARGS }),
    startWorker({ redis: redis.url, stepMs: STEP_MS }), startWorker({ redis: redis.url, stepMs: STEP_MS }),
  ]);
  r.disconnect();
  Object.assign(tokens, { alice, bob, carol, dave });
  front = started;
  frontPort = front.port;
  workers.push(w1, w2);
});

after(async () => {
  for (const c of clients) c.close();
  await Promise.all(workers.map((w) => w.stop()));
  await front?.stop();
  await redis?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function connect(user: string): Promise<TeamClient> {
  const c = await TeamClient.connect(front.url, tokens[user], front.fingerprint);
  clients.push(c);
  return c;
}

const job = (jobId: string, steps = 3, extra: Partial<JobMessage> = {}): JobMessage => ({ type: 'job', jobId, prompt: `team ${jobId}`, seed: 7, steps, width: 64, height: 64, ...extra });

test('users: tokens are stored hashed; list shows no token; a wrong token gets 401', { timeout: 60_000 }, async () => {
  const r = new Redis(redis.url);
  const stored = JSON.stringify(await r.hgetall('ipa:team:users')) + JSON.stringify(await r.hgetall('ipa:team:tokens'));
  r.disconnect();
  for (const t of Object.values(tokens)) {
    assert.ok(!stored.includes(t), 'no token in Redis');
    assert.ok(stored.includes(createHash('sha256').update(t).digest('hex')), 'its sha256 is');
  }
  const list = spawnSync(process.execPath, ['--import', 'tsx', 'bridge/cli.ts', 'team', 'user', 'list', '--redis', redis.url], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(list.status, 0, list.stderr);
  assert.match(list.stdout, /^alice\tcreated .*\ttoken [0-9a-f]{8}…$/m);
  for (const t of Object.values(tokens)) assert.ok(!list.stdout.includes(t));
  await assert.rejects(TeamClient.connect(front.url, 'ipa_wrong', front.fingerprint), /HTTP 401/);
  assert.ok(!front.log().includes(tokens.alice), 'tokens are never logged');
});

test('TLS: the self-signed certificate is pinned; team fingerprint prints it; a mismatched pin is refused before anything is sent', { timeout: 60_000 }, async () => {
  assert.match(front.fingerprint ?? '', /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  const fp = spawnSync(process.execPath, ['--import', 'tsx', 'bridge/cli.ts', 'team', 'fingerprint', '--data', dataDir], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(fp.status, 0, fp.stderr);
  assert.equal(fp.stdout.trim(), front.fingerprint);
  const c = await connect('alice');
  assert.ok(c.welcome!.capabilities.features.includes('team'));
  assert.deepEqual(c.welcome!.capabilities.team, { user: 'alice', workers: 2, maxJobsPerUser: 40, fingerprint: front.fingerprint });
  // The workers pinned the front too (they fetch inputs and store results through it): a job goes through.
  const client = await connectTeam({ url: front.url, token: tokens.alice, fingerprint: front.fingerprint });
  const out = await client.submit(job('tls-1'));
  assert.equal(out.images.length, 1);
  client.close();
  const wrong = front.fingerprint!.replace(/^../, front.fingerprint!.startsWith('00') ? '11' : '00');
  const before = front.log().length;
  await assert.rejects(connectTeam({ url: front.url, token: tokens.alice, fingerprint: wrong }), (e: Error) => {
    assert.ok(e instanceof FingerprintMismatchError);
    assert.match(e.message, /not the pinned .*refusing to connect/);
    assert.ok(e.message.includes(front.fingerprint!) && e.message.includes(wrong));
    return true;
  });
  // No certificate check at all would accept anything; the system's CAs refuse a self-signed one.
  await assert.rejects(connectTeam({ url: front.url, token: tokens.alice }), /self[- ]signed/i);
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(!front.log().slice(before).includes('connection from'), 'the refused clients never reached the WebSocket');
});

test("the plugins' connection (shared/plugin): pins the studio's fingerprint on first connect, refuses a changed one", { timeout: 60_000 }, async () => {
  const make = (pins: string[]): BridgeConnection => pluginConnection(pins);
  const pins: string[] = [];
  const first = make(pins);
  const studio = { token: tokens.alice, server: 'studio' as const, studioUrl: front.url.replace(/\/$/, ''), port: 41872 };
  first.configure(targetFor(studio));
  await first.whenConnected();
  assert.deepEqual(pins, [front.fingerprint], 'pinned on first connect');
  first.close();
  const again = make([]);
  again.configure(targetFor({ ...studio, pinnedFingerprint: front.fingerprint }));
  await again.whenConnected();
  again.close();
  const changed = make([]);
  const stopped = new Promise<ConnectionState>((resolve) => changed.subscribe((st) => void (st.phase === 'stopped' && resolve(st))));
  changed.configure(targetFor({ ...studio, pinnedFingerprint: front.fingerprint!.replace(/^../, front.fingerprint!.startsWith('00') ? '11' : '00') }));
  const st = await stopped;
  assert.equal(st.phase === 'stopped' && st.problem.code, 'fingerprint-mismatch');
  assert.match(st.phase === 'stopped' ? st.problem.message : '', /reports certificate fingerprint .* but this plugin pinned/);
  changed.close();
});

test('3 users × 20 jobs: served round-robin across two workers, each result delivered exactly once', { timeout: 60_000 }, async (t) => {
  const users = ['alice', 'bob', 'carol'];
  const cs = await Promise.all(users.map((u) => connect(u)));
  for (let i = 0; i < 20; i++) cs.forEach((c, u) => c.send(job(`rr-${users[u]}-${i}`, 4)));
  // A newcomer's single job is not stuck behind the 60: at most one job of each other user is ahead of it.
  const dave = await connect('dave');
  await cs[2].expect('accepted', 'rr-carol-19');
  dave.send(job('rr-dave-0', 4));
  const acc = await dave.expect('accepted', 'rr-dave-0');
  assert.ok(acc.position <= 3, `dave's job queued at ${acc.position}`);
  for (let u = 0; u < 3; u++) for (let i = 0; i < 20; i++) assert.equal((await cs[u].outcome(`rr-${users[u]}-${i}`, 60_000)).type, 'result');
  assert.equal((await dave.outcome('rr-dave-0')).type, 'result');
  await new Promise((r) => setTimeout(r, 300)); // anything late would show now
  const starts: Array<{ user: number; at: number }> = [];
  cs.forEach((c, u) => {
    for (let i = 0; i < 20; i++) {
      assert.equal(c.count('result', `rr-${users[u]}-${i}`), 1, 'one result per job');
      assert.equal(c.frames('result', `rr-${users[u]}-${i}`).length, 1, 'one image per job');
      const s = c.all.find((g) => g.kind === 'json' && g.msg.type === 'started' && g.msg.jobId === `rr-${users[u]}-${i}`);
      assert.ok(s, 'started seen');
      starts.push({ user: u, at: s.at });
    }
  });
  starts.sort((a, b) => a.at - b.at);
  // Round-robin: at every point of the run, no user is more than a couple of jobs ahead of another.
  const done = [0, 0, 0];
  let worst = 0;
  for (const s of starts) {
    done[s.user]++;
    worst = Math.max(worst, Math.max(...done) - Math.min(...done));
  }
  t.diagnostic(`start order (a/b/c = alice/bob/carol): ${starts.map((s) => 'abc'[s.user]).join('')}; largest lead ${worst}; dave's job accepted at position ${acc.position}`);
  assert.ok(worst <= 3, `start order spread ${worst}: ${starts.map((s) => 'abc'[s.user]).join('')}`);
  // Dave's job started long before the 60 were through.
  const daveStart = dave.all.find((g) => g.kind === 'json' && g.msg.type === 'started')!.at;
  assert.ok(starts.filter((s) => s.at < daveStart).length < 20, `dave started after ${starts.filter((s) => s.at < daveStart).length} others`);
});

test('ownership: same job id for two users is two jobs; another user\'s id is unknown-job for cancel and resume', { timeout: 60_000 }, async () => {
  const a = await connect('alice');
  const b = await connect('bob');
  a.send(job('mine', 30));
  b.send(job('mine', 3));
  a.send(job('alice-only', 30));
  await a.expect('accepted', 'alice-only');
  await b.expect('accepted', 'mine');
  b.send({ type: 'cancel', jobId: 'alice-only' });
  const e1 = await b.expect('error', 'alice-only');
  assert.equal(e1.code, 'unknown-job');
  b.send({ type: 'resume', jobId: 'alice-only' });
  assert.equal((await b.expect('error', 'alice-only', 20_000, 1)).code, 'unknown-job');
  a.send({ type: 'cancel', jobId: 'mine' });
  const cancelled = await a.expect('cancelled', 'mine');
  assert.equal(cancelled.reason, 'client');
  assert.equal((await b.outcome('mine')).type, 'result', "bob's job of the same id is untouched");
  // Alice's other job, resumed from a new connection after it finished: the result, once.
  assert.equal((await a.outcome('alice-only')).type, 'result');
  a.close();
  const a2 = await connect('alice');
  a2.send({ type: 'resume', jobId: 'alice-only' });
  await a2.expect('result', 'alice-only');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(a2.count('result', 'alice-only'), 1);
  assert.equal(b.count('result', 'alice-only') + b.count('accepted', 'alice-only'), 0, 'bob never saw it');
  // Cancelling a running job goes to the worker running it (Redis pub/sub): it stops at the next step.
  a2.send(job('run-cancel', 150));
  await a2.expect('progress', 'run-cancel');
  const t0 = Date.now();
  a2.send({ type: 'cancel', jobId: 'run-cancel' });
  assert.equal((await a2.expect('cancelled', 'run-cancel')).reason, 'client');
  assert.ok(Date.now() - t0 < 2000, `cancelled in ${Date.now() - t0} ms (the job had ${150 * STEP_MS} ms to go)`);
  assert.equal(a2.count('result', 'run-cancel'), 0);
});

test('a worker SIGKILLed mid-job: BullMQ re-runs the job on the other worker; the client gets one result', { timeout: 60_000 }, async () => {
  const c = await connect('carol');
  c.send(job('kill-1', 60));
  await c.expect('progress', 'kill-1');
  const runner = await waitFor(() => workers.find((w) => w.log().includes('job kill-1 of carol')), 5000);
  runner.proc.kill('SIGKILL');
  await runner.exited;
  const other = workers.find((w) => w !== runner)!;
  const res = await c.expect('result', 'kill-1', 30_000);
  assert.equal(res.images.length, 1);
  assert.match(other.log(), /job kill-1 of carol .* started here/);
  assert.ok(c.count('started', 'kill-1') >= 2, 'the re-run started again');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(c.count('result', 'kill-1'), 1, 'delivered once');
  assert.equal(c.frames('result', 'kill-1').length, 1);
  // A replacement for the later cases.
  workers.splice(workers.indexOf(runner), 1, await startWorker({ redis: redis.url, stepMs: STEP_MS }));
});

test('the front restarted: queued and running jobs go on; clients resume them by id (the plugins\' job code too)', { timeout: 60_000 }, async () => {
  const c = await connect('bob');
  const ids = ['fr-0', 'fr-1', 'fr-2', 'fr-3'];
  for (const id of ids) c.send(job(id, 15));
  for (const id of ids) await c.expect('accepted', id);
  // The plugins' own job code (shared/plugin/job-lifecycle.ts) on a studio connection, mid-run.
  const plugin = pluginConnection([], { baseMs: 100, capMs: 300, jitter: 0 });
  plugin.configure(targetFor({ token: tokens.carol, port: 41872, server: 'studio', studioUrl: front.url.replace(/\/$/, ''), pinnedFingerprint: front.fingerprint }));
  await plugin.whenConnected();
  const kv = new Map<string, string>();
  const pending = new PendingJobs({ load: (k) => kv.get(k) ?? null, save: (k, v) => void (v === null ? kv.delete(k) : kv.set(k, v)) }, 'pending', Date.now);
  const phases: string[] = [];
  const lifecycle = new JobLifecycle({ connection: plugin, pending, idPrefix: 'ps', random: Math.random, now: Date.now }, {
    progress: (p) => void (phases[phases.length - 1] !== p.phase && phases.push(p.phase)),
    preview: () => undefined,
  });
  let inserted = 0;
  const run = lifecycle.run({
    capture: async (jobId) => ({ job: job(jobId, 60), inputs: {}, context: {} }),
    insert: async (_o, j) => {
      inserted++;
      return j.jobId;
    },
  });
  await c.expect('progress', 'fr-0');
  await waitFor(() => (lifecycle.progress.jobId ? true : undefined), 10_000);
  const pluginJobId = lifecycle.progress.jobId;
  const stoppedAt = Date.now();
  await front.stop();
  const closed = await c.closed;
  assert.equal(closed.code, 1001);
  await new Promise((r) => setTimeout(r, 1200)); // the workers go on meanwhile
  front = await startFront({ redis: redis.url, dataDir, tls: true, port: frontPort, args: FRONT_ARGS });
  const restartedAt = Date.now();
  const c2 = await connect('bob');
  for (const id of ids) c2.send({ type: 'resume', jobId: id });
  for (const id of ids) assert.equal((await c2.outcome(id)).type, 'result', id);
  await new Promise((r) => setTimeout(r, 300));
  for (const id of ids) assert.equal(c2.count('result', id), 1, `${id} once`);
  assert.equal(await run, pluginJobId, 'the plugin resumed its job by id (not sent again)');
  assert.ok(phases.includes('reconnecting'), phases.join(' → '));
  assert.equal(inserted, 1, 'inserted once');
  plugin.close();
  const doneWhileDown = workers.flatMap((w) => [...w.log().matchAll(/(\d\d):(\d\d):(\d\d)\.(\d{3}) job fr-\d of bob \(\w+\) done/g)])
    .map((m) => atToday(m)).filter((t) => t > stoppedAt && t < restartedAt);
  assert.ok(doneWhileDown.length >= 1, 'at least one job finished while the front was down');
});

test('Redis stopped and started again: a clear error meanwhile, and the jobs finish afterwards', { timeout: 60_000 }, async () => {
  const c = await connect('carol');
  c.send(job('rd-0', 40));
  c.send(job('rd-1', 5));
  await c.expect('accepted', 'rd-1');
  await c.expect('progress', 'rd-0');
  await redis.down();
  c.send(job('rd-down', 3));
  const err = await c.expect('error', 'rd-down');
  assert.equal(err.code, 'queue-unavailable');
  assert.match(err.message, /Redis\) cannot be reached.*try again/);
  await new Promise((r) => setTimeout(r, 1000));
  await redis.up();
  assert.equal((await c.outcome('rd-0', 40_000)).type, 'result');
  assert.equal((await c.outcome('rd-1', 40_000)).type, 'result');
  c.send(job('rd-after', 3));
  assert.equal((await c.outcome('rd-after', 20_000)).type, 'result');
  await new Promise((r) => setTimeout(r, 300));
  for (const id of ['rd-0', 'rd-1', 'rd-after']) assert.equal(c.count('result', id), 1, `${id} once`);
  assert.match(front.log(), /Redis .* unreachable/);
  assert.match(front.log(), /reachable again/);
});

test('rate limits are per user: two connections of one user share one bucket; another user is not held back', { timeout: 60_000 }, async () => {
  const r = new Redis(redis.url);
  const store = new UserStore(r, teamKeys('rl'));
  const [ann, ben] = [await store.add('ann'), await store.add('ben')];
  r.disconnect();
  // A second studio on the same Redis (its own prefix, no workers: accepted jobs just wait).
  const f2 = await startFront({ redis: redis.url, dataDir: join(dataDir, 'rl'), args: ['--prefix', 'rl', '--job-burst', '3', '--job-rate', '0.01'] });
  const cs: TeamClient[] = [];
  try {
    const [a1, a2, b] = await Promise.all([TeamClient.connect(f2.url, ann), TeamClient.connect(f2.url, ann), TeamClient.connect(f2.url, ben)]);
    cs.push(a1, a2, b);
    a1.send(job('r1'));
    a1.send(job('r2'));
    await a1.expect('accepted', 'r2');
    a2.send(job('r3'));
    await a2.expect('accepted', 'r3');
    a2.send(job('r4'));
    const limited = await a2.expect('error', 'r4');
    assert.equal(limited.code, 'rate-limited', 'the 4th job of ann, on her second connection');
    b.send(job('b1'));
    await b.expect('accepted', 'b1');
    assert.equal(a1.welcome!.capabilities.team?.workers, 0);
  } finally {
    for (const c of cs) c.close();
    await f2.stop();
  }
});

test('workers on the real engine with tiny generated models: an image prompt sent as a frame, then by hash; two users', { timeout: 60_000 }, async () => {
  const models = join(dataDir, 'tiny-models');
  await writeTinyModels(models);
  await Promise.all(workers.map((w) => w.stop()));
  workers.length = 0;
  const env = { IPA_BRIDGE_CACHE_DIR: join(dataDir, 'cache') };
  workers.push(...await Promise.all([startWorker({ redis: redis.url, models, env }), startWorker({ redis: redis.url, models, env })]));
  const alice = await connectTeam({ url: front.url, token: tokens.alice, fingerprint: front.fingerprint });
  const bob = await connectTeam({ url: front.url, token: tokens.bob, fingerprint: front.fingerprint });
  await new Promise((r) => setTimeout(r, 2100)); // the front's view of the workers is at most 2 s old
  const probe = await connectTeam({ url: front.url, token: tokens.alice, fingerprint: front.fingerprint });
  const caps = probe.welcome!.capabilities;
  probe.close();
  assert.ok(caps.models.some((m) => m.kind === 'checkpoint') && !caps.models.some((m) => m.name.startsWith('test-')), `the workers' models: ${JSON.stringify(caps.models)}`);
  assert.equal(caps.team?.workers, 2);
  assert.ok(caps.adapters.length > 0, 'an IP-Adapter among them');
  const ref = new Uint8Array(64 * 64 * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * 37) % 256));
  const refHash = createHash('sha256').update(ref).digest('hex');
  const refJob = (jobId: string): JobMessage => ({ ...job(jobId, 2), references: [{ source: 'frame', scale: 0.6 }] });
  const [a1, b1] = await Promise.all([
    alice.submit(refJob('real-a1'), { references: [{ format: 'raw-rgba8', width: 64, height: 64, data: ref }] }),
    bob.submit(job('real-b1', 2)),
  ]);
  for (const out of [a1, b1]) {
    const png = out.images[0].data;
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], 'a PNG');
    assert.match(out.result.metadata.engine, /^ipa-bridge engine \(cpu/, 'the real engine ran it');
  }
  assert.equal(a1.result.metadata.inputs?.references[0], refHash, 'the reference travelled through the blob store');
  // The same reference again: BridgeClient sends it by hash; the front still has it.
  const a2 = await alice.submit(refJob('real-a2'), { references: [{ format: 'raw-rgba8', width: 64, height: 64, data: ref, hash: refHash }] });
  assert.equal(a2.result.metadata.inputs?.references[0], refHash);
  alice.close();
  bob.close();
});

test('team commands: --help, and usage mistakes exit 2 naming the option', { timeout: 60_000 }, async () => {
  const env = { ...process.env, IPA_BRIDGE_REDIS: undefined };
  const closed = await closedPort();
  // All at once: each is a process start.
  const [help, scheme, missing, name, down, exists] = await Promise.all([
    ['worker', '--help'], ['serve', '--redis', 'http://x:1'], ['user', 'list'], ['user', 'add', 'bad name', '--redis', redis.url],
    ['user', 'list', '--redis', `redis://127.0.0.1:${closed}`], ['user', 'add', 'alice', '--redis', redis.url],
  ].map((args) => runCli(['team', ...args], env)));
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--device <n>[\s\S]*--lock-duration[\s\S]*Finds the front through Redis/);
  assert.equal(scheme.status, 2);
  assert.match(scheme.stderr, /--redis <url>.*scheme must be redis:\/\/ or rediss:\/\//);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--redis URL is required/);
  assert.equal(name.status, 2);
  assert.match(name.stderr, /user name "bad name" is not allowed/);
  assert.equal(down.status, 1);
  assert.match(down.stderr, /cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+ .*is redis-server running there\?/);
  assert.equal(exists.status, 1);
  assert.match(exists.stderr, /user "alice" exists; use --replace/);
});

/** The plugins' connection driver on a socket whose system trusts the studio's certificate (a browser's view). */
function pluginConnection(pins: string[], backoff?: BackoffOptions): BridgeConnection {
  return new BridgeConnection({
    openSocket: (url) => new WebSocket(url, { rejectUnauthorized: false }) as unknown as SocketLike,
    // Anything answering plain HTTP(S) there? (A front that is down must read as "unreachable": retry.)
    probe: (url) => new Promise<boolean>((resolve) => {
      const req = httpsGet(url, { rejectUnauthorized: false, timeout: 2000 }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
    }),
    setTimer: (fn, ms) => setTimeout(fn, ms),
    clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
    random: () => 0.5,
    now: Date.now,
    client: { name: 'plugin-test', version: '0' },
    pin: (_url, fp) => pins.push(fp),
    ...(backoff ? { backoff } : {}),
  });
}

async function waitFor<T>(f: () => T | undefined, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A log line's HH:MM:SS.mmm (UTC) as a time today. */
function atToday(m: RegExpMatchArray): number {
  const d = new Date();
  d.setUTCHours(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]));
  return d.getTime();
}
