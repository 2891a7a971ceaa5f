/**
 * The front's JobService (bridge/jobs.ts) on BullMQ: the same Session (bridge/session.ts) that serves
 * local connections hands its jobs here. Every job is a BullMQ job whose id hashes the user and the
 * client's id (contract.ts), so a user sees, resumes and cancels only their own jobs, and resubmitting an
 * id is caught. Progress, completion and failure come back through BullMQ's QueueEvents; this process
 * keeps only who is watching what (rebuilt from Redis by `resume` after a restart). Results are delivered
 * to a connection at most once per ask: a completion that is reported twice (a stalled job re-run, a
 * resume racing the completion event) reaches each watcher once.
 */
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { CancelReason, ErrorCode, ProgressMessage, StartedMessage } from '../../shared/protocol/index.ts';
import type { NormalizedJob } from '../../shared/protocol/validate.ts';
import { errorMessage, type JobService, type Subscriber } from '../jobs.ts';
import type { Logger } from '../log.ts';
import type { DecodedInputs } from '../pipeline.ts';
import { encodePixels, type DiskBlobStore } from './blob-store.ts';
import { bullJobId, QUEUE_NAME, type TeamJobData, type TeamKeys, type TeamOutcome, type TeamProgress } from './contract.ts';
import { FairTags } from './fairness.ts';
import { bullConnection, isRedisDown, watchOutages } from './redis.ts';

export interface TeamJobsOptions {
  redisUrl: string;
  prefix: string;
  keys: TeamKeys;
  /** Our own command connection (fails fast while Redis is down). */
  redis: Redis;
  store: DiskBlobStore;
  log: Logger;
  maxJobsPerUser: number;
  /** Queued jobs in the whole studio beyond which new ones are refused (`queue-full`). */
  maxQueue: number;
  /** How long finished jobs (and their result blobs) are kept for `resume`. */
  resultTtlMs: number;
  /** BullMQ attempts for a job whose worker fails outright (stalls are counted separately by the workers). */
  attempts: number;
  /** How long a finished job's images may take to reach the blob store (a worker's spool after a front restart). */
  resultWaitMs: number;
}

/** Who watches one BullMQ job on this front. */
interface Watch {
  readonly bullId: string;
  readonly user: string;
  readonly jobId: string;
  readonly subs: Set<Subscriber>;
  state: 'queued' | 'running';
  started?: StartedMessage;
  lastProgress?: ProgressMessage;
  lastPosition: number;
}

const UNAVAILABLE = "the studio server's job queue (Redis) cannot be reached right now; nothing was changed: try again shortly";

export class TeamJobs implements JobService {
  readonly queue: Queue<TeamJobData, TeamOutcome>;
  private readonly events: QueueEvents;
  private readonly fair: FairTags;
  private readonly watches = new Map<string, Watch>();
  private readonly reserved = new Set<string>();
  /** Per connection: BullMQ ids whose outcome it already got (cleared by an explicit resume). */
  private readonly delivered = new WeakMap<Subscriber, Set<string>>();
  private waiting = 0;
  private positionsTimer?: ReturnType<typeof setTimeout>;
  private closed = false;

  readonly engineAvailable = true;
  readonly engineErrorText = '';

  constructor(private readonly o: TeamJobsOptions) {
    this.queue = new Queue<TeamJobData, TeamOutcome>(QUEUE_NAME, { connection: bullConnection(o.redisUrl, 'commands'), prefix: o.prefix });
    this.events = new QueueEvents(QUEUE_NAME, { connection: bullConnection(o.redisUrl, 'blocking'), prefix: o.prefix });
    this.fair = new FairTags(o.redis, o.keys.fair);
    watchOutages(this.queue, o.redisUrl, 'the job queue', o.log);
    watchOutages(this.events, o.redisUrl, 'job events', o.log);
    this.events.on('progress', ({ jobId, data }) => this.onProgress(jobId, data as TeamProgress));
    this.events.on('active', ({ jobId }) => {
      const w = this.watches.get(jobId);
      if (w) w.state = 'running';
      this.schedulePositions();
    });
    this.events.on('completed', ({ jobId, returnvalue }) => {
      const outcome = (typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue) as TeamOutcome;
      this.finishLogged(jobId, outcome);
    });
    this.events.on('failed', ({ jobId, failedReason }) => this.finishLogged(jobId, failureOutcome(this.watches.get(jobId)?.jobId ?? '', failedReason)));
    this.events.on('stalled', ({ jobId }) => o.log.warn(`job ${this.describe(jobId)} stalled (its worker stopped answering); BullMQ runs it again on another worker`));
    for (const e of ['waiting', 'added', 'removed'] as const) this.events.on(e, () => this.schedulePositions());
  }

  async ready(): Promise<void> {
    await Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady()]);
    this.schedulePositions();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.positionsTimer) clearTimeout(this.positionsTimer);
    await Promise.allSettled([this.events.close(), this.queue.close()]);
  }

  get queueFull(): boolean {
    return this.waiting >= this.o.maxQueue;
  }

  countWatchedBy(sub: Subscriber): number {
    let n = 0;
    for (const w of this.watches.values()) if (w.subs.has(sub)) n++;
    return n;
  }

  reserve(id: string, by: Subscriber): boolean {
    const b = bullJobId(userOf(by), id);
    if (this.reserved.has(b) || this.watches.has(b)) return false;
    this.reserved.add(b);
    return true;
  }

  unreserve(id: string, by: Subscriber): void {
    this.reserved.delete(bullJobId(userOf(by), id));
  }

  submit(spec: NormalizedJob, inputs: DecodedInputs, sub: Subscriber): void {
    const user = userOf(sub);
    const bullId = bullJobId(user, spec.jobId);
    this.enqueue(bullId, user, spec, inputs, sub).catch((e: unknown) => {
      this.watches.delete(bullId);
      const down = isRedisDown(e);
      if (!down) this.o.log.error(`queueing ${spec.jobId} for ${user} failed`, e);
      sub.send(errorMessage(down ? 'queue-unavailable' : 'internal', down ? UNAVAILABLE : `internal error: ${(e as Error).message}`, spec.jobId));
    }).finally(() => this.reserved.delete(bullId));
  }

  cancel(id: string, reason: CancelReason, by?: Subscriber): Promise<boolean> {
    return this.guard(async () => {
      if (!by) return false;
      const user = userOf(by);
      const bullId = bullJobId(user, id);
      const job = await this.queue.getJob(bullId);
      if (!job || job.data.user !== user) return false;
      const state = await job.getState();
      if (state === 'completed' || state === 'failed' || state === 'unknown') return false;
      this.watch(bullId, user, id).subs.add(by);
      if (state !== 'active') {
        try {
          await job.remove();
          await this.o.redis.srem(this.o.keys.live(user), bullId);
          await this.finish(bullId, { kind: 'cancelled', reason });
          this.o.log.info(`job ${id} of ${user} cancelled while queued (${reason})`);
          return true;
        } catch {
          // It moved to a worker meanwhile (removal refuses locked jobs): cancel it there.
        }
      }
      // The worker aborts at the next step and reports `cancelled` as the job's outcome. The key covers a
      // job that is between the queue and a worker's processor when the message goes out.
      await this.o.redis.set(this.o.keys.cancelled(bullId), reason, 'PX', 10 * 60_000);
      await this.o.redis.publish(this.o.keys.cancelChannel, JSON.stringify({ bullId, reason }));
      return true;
    });
  }

  resume(id: string, sub: Subscriber): Promise<boolean> {
    return this.guard(async () => {
      const user = userOf(sub);
      const bullId = bullJobId(user, id);
      const job = await this.queue.getJob(bullId);
      if (!job || job.data.user !== user) return false;
      this.delivered.get(sub)?.delete(bullId); // asked again: deliver again
      const w = this.watch(bullId, user, id);
      w.subs.add(sub);
      const state = await job.getState();
      if (state === 'completed') {
        w.subs.delete(sub);
        await this.deliver(sub, bullId, id, job.returnvalue, job.finishedOn);
        if (w.subs.size === 0) this.watches.delete(bullId);
        return true;
      }
      if (state === 'failed') {
        w.subs.delete(sub);
        await this.deliver(sub, bullId, id, failureOutcome(id, job.failedReason));
        return true;
      }
      const progress = job.progress as TeamProgress | number;
      if (state === 'active') w.state = 'running';
      const position = state === 'active' ? 0 : await this.positionOf(bullId);
      sub.send({ type: 'accepted', jobId: id, position, inputs: job.data.hashes });
      if (typeof progress === 'object' && progress) {
        this.onProgress(bullId, progress, sub);
      }
      return true;
    });
  }

  release(id: string, by?: Subscriber): void {
    if (!by) return;
    const user = userOf(by);
    const bullId = bullJobId(user, id);
    void (async () => {
      const job = await this.queue.getJob(bullId);
      if (!job || job.data.user !== user) return;
      if (await job.isCompleted() || await job.isFailed()) await job.remove();
    })().catch((e: unknown) => this.o.log.debug(`release of ${id} failed: ${(e as Error).message}`));
  }

  detach(sub: Subscriber): void {
    for (const [bullId, w] of this.watches) {
      w.subs.delete(sub);
      // Nobody here watches it: forget it (the job goes on; `resume` finds it again in Redis).
      if (w.subs.size === 0) this.watches.delete(bullId);
    }
  }

  /** A preview frame a worker posted for a job (never stored). */
  preview(bullId: string, step: number, width: number, height: number, rgba: Uint8Array): void {
    const w = this.watches.get(bullId);
    if (!w) return;
    for (const s of w.subs) s.sendFrame({ role: 'preview', format: 'raw-rgba8', jobId: w.jobId, index: Math.min(step, 0xffff), width, height, premultiplied: false }, rgba, true);
  }

  /** Queued jobs in the whole studio (refreshed with the positions). */
  get queuedCount(): number {
    return this.waiting;
  }

  // ------------------------------------------------------------ internals

  private async enqueue(bullId: string, user: string, spec: NormalizedJob, inputs: DecodedInputs, sub: Subscriber): Promise<void> {
    const { queue, o } = this;
    if (await queue.getJob(bullId)) {
      sub.send(errorMessage('duplicate-job', `job id "${spec.jobId}" is in use (running, queued, or its result is retained: send "resume" to fetch it, or "release" it)`, spec.jobId, 'jobId'));
      return;
    }
    const live = await this.liveCount(user);
    if (live >= o.maxJobsPerUser) {
      sub.send(errorMessage('queue-full', `you already have ${live} jobs queued or running on the studio server (at most ${o.maxJobsPerUser} per user); wait for some to finish`, spec.jobId));
      return;
    }
    // The decoded inputs go to the blob store under the hashes the protocol already uses.
    const h = inputs.hashes;
    const puts: Array<Promise<void>> = [];
    if (inputs.init && h.init) puts.push(o.store.put('inputs', h.init, encodePixels(inputs.init)));
    if (inputs.mask && h.mask) puts.push(o.store.put('inputs', h.mask, encodePixels(inputs.mask)));
    inputs.references.forEach((p, i) => { const x = h.references[i]; if (x) puts.push(o.store.put('inputs', x, encodePixels(p))); });
    inputs.controls.forEach((p, i) => { const x = h.controls[i]; if (p && x) puts.push(o.store.put('inputs', x, encodePixels(p))); });
    inputs.referenceMasks?.forEach((p, i) => { const x = h.referenceMasks?.[i]; if (p && x) puts.push(o.store.put('inputs', x, encodePixels(p))); });
    await Promise.all(puts);

    const priority = await this.fair.assign(user, () => this.headPriority());
    const w = this.watch(bullId, user, spec.jobId);
    w.subs.add(sub);
    const data: TeamJobData = { user, spec, hashes: h, submittedAt: Date.now() };
    const ageS = Math.max(1, Math.round(o.resultTtlMs / 1000));
    await queue.add('generate', data, {
      jobId: bullId,
      priority,
      attempts: o.attempts,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: ageS },
      removeOnFail: { age: ageS },
    });
    await o.redis.sadd(o.keys.live(user), bullId);
    const position = await this.positionOf(bullId);
    w.lastPosition = position;
    sub.send({ type: 'accepted', jobId: spec.jobId, position, inputs: h });
    o.log.debug(`job ${spec.jobId} of ${user} queued as ${bullId} (tag ${priority}, position ${position})`);
    this.schedulePositions();
  }

  /** The user's live jobs; entries of jobs that ended while no front watched them are dropped first. */
  private async liveCount(user: string): Promise<number> {
    const key = this.o.keys.live(user);
    const n = await this.o.redis.scard(key);
    if (n < this.o.maxJobsPerUser) return n;
    const ids = await this.o.redis.smembers(key);
    const states = await Promise.all(ids.map((id) => this.queue.getJobState(id)));
    const ended = ids.filter((_, i) => ['completed', 'failed', 'unknown'].includes(states[i]));
    if (ended.length) await this.o.redis.srem(key, ...ended);
    return ids.length - ended.length;
  }

  private watch(bullId: string, user: string, jobId: string): Watch {
    let w = this.watches.get(bullId);
    if (!w) {
      w = { bullId, user, jobId, subs: new Set(), state: 'queued', lastPosition: -1 };
      this.watches.set(bullId, w);
    }
    return w;
  }

  private onProgress(bullId: string, p: TeamProgress, only?: Subscriber): void {
    const w = this.watches.get(bullId);
    if (!w || typeof p !== 'object') return;
    w.state = 'running';
    const started: StartedMessage = { type: 'started', jobId: w.jobId, width: p.width, height: p.height, steps: p.steps };
    const targets = only ? [only] : [...w.subs];
    if (p.kind === 'started' || only || !w.started) {
      // A job re-run after its worker died starts over: watchers see `started` again.
      w.started = started;
      for (const s of targets) s.send(started);
      if (p.kind === 'started') return;
    }
    const msg: ProgressMessage = { type: 'progress', jobId: w.jobId, step: p.step, total: p.total, elapsedMs: p.elapsedMs, etaMs: p.etaMs, ...(p.preview ? { preview: p.preview } : {}) };
    w.lastProgress = msg;
    for (const s of targets) s.send(msg, true);
  }

  /** From an event handler: a failure to deliver is logged, never an unhandled rejection. */
  private finishLogged(bullId: string, outcome: TeamOutcome): void {
    this.finish(bullId, outcome).catch((e: unknown) => this.o.log.error(`delivering the outcome of ${this.describe(bullId)} failed`, e));
  }

  /** The job ended: every watcher gets the outcome once. */
  private async finish(bullId: string, outcome: TeamOutcome): Promise<void> {
    const w = this.watches.get(bullId);
    this.schedulePositions();
    if (!w) return;
    this.watches.delete(bullId);
    void this.o.redis.srem(this.o.keys.live(w.user), bullId).catch(() => undefined);
    await Promise.all([...w.subs].map((s) => this.deliver(s, bullId, w.jobId, outcome)));
  }

  private async deliver(sub: Subscriber, bullId: string, jobId: string, outcome: TeamOutcome | undefined, finishedOn?: number): Promise<void> {
    let seen = this.delivered.get(sub);
    if (!seen) this.delivered.set(sub, (seen = new Set()));
    if (seen.has(bullId)) return;
    seen.add(bullId);
    if (!outcome) return sub.send(errorMessage('internal', `job "${jobId}" finished without an outcome`, jobId));
    if (outcome.kind === 'cancelled') return sub.send({ type: 'cancelled', jobId, reason: outcome.reason });
    if (outcome.kind === 'error') return sub.send({ ...outcome.message, jobId });
    // Images a worker spooled while this front was away arrive shortly after it is back: wait for them.
    const until = (finishedOn ?? Date.now()) + this.o.resultWaitMs;
    let payloads = await Promise.all(outcome.frames.map((f) => this.o.store.get('results', f.header.hash!)));
    while (payloads.some((p) => !p) && Date.now() < until && !this.closed) {
      await new Promise((r) => setTimeout(r, 250));
      payloads = await Promise.all(outcome.frames.map((f) => this.o.store.get('results', f.header.hash!)));
    }
    if (payloads.some((p) => !p)) return sub.send(errorMessage('unknown-job', `the images of job "${jobId}" are not on the studio server (expired, or their worker has not sent them)`, jobId));
    sub.send({ ...outcome.message, jobId });
    outcome.frames.forEach((f, i) => sub.sendFrame({ ...f.header, jobId }, payloads[i]!));
  }

  /** The fairness tag of the job that runs next, if any waits. */
  private async headPriority(): Promise<number | undefined> {
    const [id] = await this.queue.getRanges(['prioritized'], 0, 0, true);
    if (!id) return undefined;
    const job = await this.queue.getJob(id);
    return job?.opts.priority ?? job?.priority ?? undefined;
  }

  private async positionOf(bullId: string): Promise<number> {
    const rank = await this.o.redis.zrank(this.queue.keys.prioritized, bullId);
    return rank ?? 0;
  }

  /** Positions count every queued job of the studio (all users, all workers); watchers hear of changes. */
  private schedulePositions(): void {
    if (this.positionsTimer || this.closed) return;
    this.positionsTimer = setTimeout(() => {
      this.positionsTimer = undefined;
      this.announcePositions().catch((e: unknown) => {
        if (!isRedisDown(e)) this.o.log.debug(`positions: ${(e as Error).message}`);
      });
    }, 100);
    this.positionsTimer.unref?.();
  }

  private async announcePositions(): Promise<void> {
    const ids = await this.queue.getRanges(['prioritized'], 0, -1, true);
    this.waiting = ids.length;
    const rank = new Map(ids.map((id, i) => [id, i] as const));
    for (const w of this.watches.values()) {
      if (w.state !== 'queued') continue;
      const p = rank.get(w.bullId);
      if (p === undefined || p === w.lastPosition) continue;
      w.lastPosition = p;
      for (const s of w.subs) s.send({ type: 'queued', jobId: w.jobId, position: p }, true);
    }
  }

  /** Redis errors on cancel/resume become a clear `queue-unavailable` (Session sends it with the job id). */
  private async guard(f: () => Promise<boolean>): Promise<boolean> {
    try {
      return await f();
    } catch (e) {
      if (isRedisDown(e)) throw Object.assign(new Error(UNAVAILABLE), { code: 'queue-unavailable' as ErrorCode });
      throw e;
    }
  }

  private describe(bullId: string): string {
    const w = this.watches.get(bullId);
    return w ? `${w.jobId} of ${w.user}` : bullId;
  }
}

function userOf(sub: Subscriber): string {
  if (!sub.user) throw new Error('team jobs need an authenticated user on the connection');
  return sub.user;
}

/** A BullMQ failure (every attempt failed, or the job stalled more often than allowed). */
function failureOutcome(jobId: string, reason: string | undefined): TeamOutcome {
  const stalled = /stalled/i.test(reason ?? '');
  const code: ErrorCode = stalled ? 'engine-crashed' : 'engine-error';
  const text = stalled
    ? `the job's worker stopped more than once while running it (${reason}); resubmit it`
    : `the job failed on the studio's workers: ${reason ?? 'no reason given'}`;
  return { kind: 'error', message: errorMessage(code, text, jobId) };
}
