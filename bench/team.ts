/**
 * The studio server under load: 1,000 jobs from 10 users over 3 workers, all real processes (redis-server
 * with appendonly, `team serve` with its self-signed TLS pinned by the clients, `team worker --engine
 * test`), each user on its own WebSocket submitting all of its jobs at once. Reports:
 *   delivered exactly once   results received per job (every job 1; duplicates and missing counted)
 *   throughput               jobs per second from the first submit to the last result
 *   waiting-time spread      per user, the median of (started − submitted); the spread is max − min of
 *                            those medians (round-robin keeps it small though every user queued 100)
 *   front RSS                resident memory of the front after start-up and after the run
 *
 *   node --import tsx bench/team.ts [--json] [--jobs 1000] [--users 10] [--workers 3] [--steps 1] [--step-ms 0]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { teamKeys, DEFAULT_PREFIX } from '../bridge/team/contract.ts';
import { UserStore } from '../bridge/team/users.ts';
import { TeamClient } from '../test/team/client.ts';
import { startFront, startWorker, TestRedis, type Proc } from '../test/team/helpers.ts';
import { loadNote } from './lib/machine.ts';
import { median, sig } from './lib/stats.ts';
import { emit, type BenchRow } from './lib/types.ts';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const JOBS = Number(opt('--jobs', '1000'));
const USERS = Number(opt('--users', '10'));
const WORKERS = Number(opt('--workers', '3'));
const STEPS = Number(opt('--steps', '1'));
const STEP_MS = Number(opt('--step-ms', '0'));
const log = (s: string): void => void process.stderr.write(`[team] ${s}\n`);

function rssKb(pid: number | undefined): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function main(): Promise<void> {
  const redis = await TestRedis.start();
  const dataDir = mkdtempSync(join(tmpdir(), 'ipa-team-bench-'));
  const procs: Proc[] = [];
  const clients: TeamClient[] = [];
  try {
    const r = new Redis(redis.url);
    const users = new UserStore(r, teamKeys(DEFAULT_PREFIX));
    const names = Array.from({ length: USERS }, (_, i) => `user${i}`);
    const tokens = await Promise.all(names.map((n) => users.add(n)));
    r.disconnect();
    const perUser = Math.ceil(JOBS / USERS);
    const front = await startFront({
      redis: redis.url, dataDir, tls: true,
      args: ['--job-burst', String(perUser * 2), '--job-rate', '10000', '--max-jobs-per-user', String(perUser * 2), '--max-connections', String(USERS * 2)],
    });
    procs.push(front);
    procs.push(...await Promise.all(Array.from({ length: WORKERS }, () => startWorker({ redis: redis.url, stepMs: STEP_MS }))));
    await new Promise((res) => setTimeout(res, 500));
    const rssStart = rssKb(front.proc.pid);
    log(`front RSS ${Math.round(rssStart / 1024)} MiB after start; ${JOBS} jobs from ${USERS} users over ${WORKERS} workers`);
    clients.push(...await Promise.all(tokens.map((t) => TeamClient.connect(front.url, t, front.fingerprint))));

    const submitted = new Map<string, number>();
    const t0 = Date.now();
    let n = 0;
    for (let i = 0; i < perUser && n < JOBS; i++) {
      for (let u = 0; u < USERS && n < JOBS; u++, n++) {
        const id = `b-${u}-${i}`;
        submitted.set(id, Date.now());
        clients[u].send({ type: 'job', jobId: id, prompt: `bench ${id}`, seed: i, steps: STEPS, width: 64, height: 64 });
      }
    }
    const ids = [...submitted.keys()];
    const owner = (id: string): number => Number(id.split('-')[1]);
    let last = 0;
    for (const id of ids) {
      const out = await clients[owner(id)].outcome(id, 30 * 60_000);
      if (out.type !== 'result') throw new Error(`${id}: ${JSON.stringify(out)}`);
    }
    await new Promise((res) => setTimeout(res, 1000)); // duplicates, if any, would arrive now
    const rssEnd = rssKb(front.proc.pid);

    let once = 0, dup = 0, missing = 0;
    const waits: number[][] = names.map(() => []);
    for (const id of ids) {
      const c = clients[owner(id)];
      const k = c.count('result', id);
      if (k === 1) once++;
      else if (k === 0) missing++;
      else dup += k - 1;
      const s = c.all.find((g) => g.kind === 'json' && g.msg.type === 'started' && g.msg.jobId === id);
      if (s) waits[owner(id)].push(s.at - submitted.get(id)!);
      const res = c.all.find((g) => g.kind === 'json' && g.msg.type === 'result' && g.msg.jobId === id);
      if (res) last = Math.max(last, res.at);
    }
    const elapsed = (last - t0) / 1000;
    const medians = waits.map((w) => median(w));
    const spread = Math.max(...medians) - Math.min(...medians);
    const rows: BenchRow[] = [
      { label: 'delivered exactly once', value: once, unit: `of ${ids.length}`, target: `= ${ids.length}`, pass: once === ids.length && dup === 0 },
      { label: 'duplicate results', value: dup, unit: 'msgs', target: '0', pass: dup === 0 },
      { label: 'missing results', value: missing, unit: 'jobs', target: '0', pass: missing === 0 },
      { label: 'throughput', value: sig(ids.length / elapsed), unit: 'jobs/s' },
      { label: 'waiting time, median of per-user medians', value: sig(median(medians)), unit: 'ms' },
      { label: 'waiting time spread across users (max − min of medians)', value: sig(spread), unit: 'ms', min: sig(Math.min(...medians)), max: sig(Math.max(...medians)) },
      { label: 'front RSS at start', value: Math.round(rssStart / 1024), unit: 'MiB' },
      { label: 'front RSS at end', value: Math.round(rssEnd / 1024), unit: 'MiB' },
    ];
    emit({
      bench: 'team',
      rows,
      notes: [
        `${ids.length} jobs (64×64, ${STEPS} step${STEPS === 1 ? '' : 's'} of ${STEP_MS} ms, test engine) from ${USERS} users over ${WORKERS} workers in ${sig(elapsed)} s; every user queued ${perUser} at once`,
        `per-user median waits (ms): ${medians.map((m) => Math.round(m)).join(', ')}`,
        loadNote(),
      ],
    });
  } finally {
    for (const c of clients) c.close();
    await Promise.all(procs.map((p) => p.stop()));
    await redis.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
