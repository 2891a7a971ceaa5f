/**
 * `team worker`: one per GPU. Takes jobs from the studio's BullMQ queue (lowest fairness tag first, see
 * fairness.ts) and runs each on the same engine and the same JobManager the local daemon uses, here fed
 * by one job at a time: inputs come from the front's blob endpoint, progress goes back as BullMQ
 * progress, previews straight to the front, result images to the front's blob store and the rest of the
 * result as the BullMQ return value. A worker that dies mid-job stops renewing its BullMQ lock; another
 * worker's stalled-job check puts the job back in the queue and it runs again there.
 */
import { hostname } from 'node:os';
import { Worker, type Job } from 'bullmq';
import type { Engine } from '../../engine/api.ts';
import type { CancelReason, FrameHeader, ResultMessage, ServerMessage } from '../../shared/protocol/index.ts';
import { JobManager, type Subscriber } from '../jobs.ts';
import { jobFamily } from '../models/families.ts';
import type { Logger } from '../log.ts';
import type { DecodedInputs } from '../pipeline.ts';
import type { Pixels } from '../image.ts';
import { decodePixelsBlob } from './blob-store.ts';
import { FrontClient, FrontUnreachableError } from './blob-http.ts';
import { ResultSpool } from './spool.ts';
import { QUEUE_NAME, type StoredFrame, type TeamJobData, type TeamKeys, type TeamOutcome, type TeamProgress, type WorkerInfo } from './contract.ts';
import { FairTags } from './fairness.ts';
import { bullConnection, connectRedis, watchOutages } from './redis.ts';

export interface TeamWorkerOptions {
  redisUrl: string;
  prefix: string;
  keys: TeamKeys;
  engine: Engine;
  log: Logger;
  maxPixels: number;
  /** BullMQ lock: a worker that has not renewed it for this long is considered dead. */
  lockDurationMs: number;
  /** How often this worker looks for stalled jobs (of dead workers). */
  stalledIntervalMs: number;
  /** Re-runs after stalls before a job fails for good. */
  maxStalledCount: number;
  /** How long to keep retrying the front (restarting) before the attempt fails. */
  frontPatienceMs: number;
  /** How long a result upload retries an unreachable front before the images go to the spool. */
  uploadWaitMs: number;
  /** Where results wait while the front is away (bridge/team/spool.ts). */
  spoolDir: string;
  id?: string;
}

export interface TeamWorkerHandle {
  readonly id: string;
  /** Stops taking jobs; the running one finishes first unless `force`. */
  close(force?: boolean): Promise<void>;
}

export async function startTeamWorker(o: TeamWorkerOptions): Promise<TeamWorkerHandle> {
  const id = o.id ?? `${hostname()}-${process.pid}`;
  const { keys, log } = o;
  // Commands wait while Redis is away (a job in progress must not fail for a short outage).
  const redis = connectRedis(o.redisUrl, 'blocking', 'the worker', log);
  const subscriber = connectRedis(o.redisUrl, 'blocking', 'cancel messages', log);
  const front = new FrontClient(redis, keys, log, o.frontPatienceMs);
  const spool = new ResultSpool(o.spoolDir, front, log);
  const fair = new FairTags(redis, keys.fair);
  // `base` and `default` travel to the front's handshake (families, the default checkpoint's family).
  const models = (await o.engine.listModels()).map((m) => ({ name: m.name, kind: m.kind, bytes: m.bytes, ...(m.base ? { base: m.base } : {}), ...(m.default ? { default: true } : {}) }));
  const jobs = new JobManager({
    engine: o.engine, maxPixels: o.maxPixels, maxQueue: 4, disconnectGraceMs: 24 * 3600_000,
    resultTtlMs: 60_000, resultCacheBytes: 512 * 1024 * 1024, log,
    familyOf: async (checkpoint) => jobFamily(models, checkpoint),
  });
  let running: string | undefined;

  const processor = async (job: Job<TeamJobData, TeamOutcome>, _token?: string, signal?: AbortSignal): Promise<TeamOutcome> => {
    const bullId = job.id!;
    running = bullId;
    try {
      void fair.started(job.opts.priority ?? 0).catch(() => undefined);
      const cancelled = await redis.get(keys.cancelled(bullId));
      if (cancelled) return { kind: 'cancelled', reason: cancelled as CancelReason };
      log.info(`job ${job.data.spec.jobId} of ${job.data.user} (${bullId}) started here${job.attemptsStarted > 1 ? ` (attempt ${job.attemptsStarted})` : ''}`);
      void announce().catch(() => undefined);
      const inputs = await loadInputs(front, job.data, signal);
      const outcome = await runJob(jobs, job, inputs, front, signal, log);
      if (outcome.kind === 'result') {
        // The images go to the front's blob store; Redis gets only their hashes. A front that is away
        // (restarting) gets them from the spool when it is back: the GPU moves on to the next job.
        for (const f of outcome.frames) {
          try {
            await front.putResult(f.header.hash!, f.payload, undefined, o.uploadWaitMs);
          } catch (e) {
            if (!(e instanceof FrontUnreachableError)) throw e;
            await spool.save(f.header.hash!, f.payload);
            log.warn(`front unreachable: result ${f.header.hash!.slice(0, 12)}… of ${job.data.spec.jobId} spooled in ${spool.dir}`);
          }
        }
        const stored: StoredFrame[] = outcome.frames.map((f) => ({ header: f.header }));
        return { kind: 'result', message: outcome.message, frames: stored };
      }
      return outcome;
    } finally {
      running = undefined;
      void redis.srem(keys.live(job.data.user), bullId).catch(() => undefined);
    }
  };

  const worker = new Worker<TeamJobData, TeamOutcome>(QUEUE_NAME, processor, {
    connection: bullConnection(o.redisUrl, 'blocking'),
    prefix: o.prefix,
    concurrency: 1,
    lockDuration: o.lockDurationMs,
    stalledInterval: o.stalledIntervalMs,
    maxStalledCount: o.maxStalledCount,
    autorun: false,
  });
  watchOutages(worker, o.redisUrl, 'the worker queue', log);
  worker.on('failed', (job, e) => log.warn(`job ${job?.id ?? '?'} attempt failed: ${e.message}`));
  worker.on('completed', (job, r) => log.info(`job ${job.data.spec.jobId} of ${job.data.user} (${job.id}) done: ${r.kind}`));

  await subscriber.subscribe(keys.cancelChannel);
  subscriber.on('message', (_channel: string, text: string) => {
    try {
      const { bullId, reason } = JSON.parse(text) as { bullId: string; reason: CancelReason };
      if (worker.cancelJob(bullId, reason)) log.info(`cancelling ${bullId} (${reason})`);
    } catch {
      // not ours
    }
  });

  const announce = async (): Promise<void> => {
    const info: WorkerInfo = {
      id, host: hostname(), provider: o.engine.provider, models, at: Date.now(),
      ...(o.engine.runtime ? { fp16: o.engine.runtime.fp16, ...(o.engine.runtime.device ? { device: o.engine.runtime.device } : {}) } : {}),
      ...(running ? { running } : {}),
    };
    await redis.hset(keys.workers, id, JSON.stringify(info));
  };
  await announce();
  const heartbeat = setInterval(() => void announce().catch(() => undefined), 5000);
  heartbeat.unref();
  worker.run().catch((e: unknown) => log.error('the worker stopped taking jobs', e));
  await worker.waitUntilReady();
  log.info(`worker ${id} taking jobs from ${QUEUE_NAME} (provider ${o.engine.provider}, ${models.length} models)`);

  return {
    id,
    async close(force = false) {
      clearInterval(heartbeat);
      await worker.close(force);
      await spool.drain();
      spool.close();
      await redis.hdel(keys.workers, id).catch(() => undefined);
      subscriber.disconnect();
      redis.disconnect();
      await jobs.shutdown(1000);
    },
  };
}

/** The job's decoded inputs from the front, by the hashes in its data. */
async function loadInputs(front: FrontClient, d: TeamJobData, signal?: AbortSignal): Promise<DecodedInputs> {
  const get = async (hash: string | null | undefined): Promise<Pixels | undefined> => (hash ? decodePixelsBlob(await front.getInput(hash, signal)) : undefined);
  const h = d.hashes;
  const [init, mask, references, controls, referenceMasks] = await Promise.all([
    get(d.spec.init ? h.init : undefined),
    get(d.spec.mask ? h.mask : undefined),
    Promise.all(h.references.map(async (x) => (await get(x))!)),
    Promise.all(h.controls.map(async (x) => (await get(x)) ?? null)),
    h.referenceMasks ? Promise.all(h.referenceMasks.map((x) => get(x))) : undefined,
  ]);
  return { init, mask, references, controls, ...(referenceMasks ? { referenceMasks } : {}), hashes: h };
}

type LocalOutcome =
  | { kind: 'result'; message: ResultMessage; frames: Array<{ header: FrameHeader; payload: Uint8Array }> }
  | Exclude<TeamOutcome, { kind: 'result' }>;

/** One job through the local JobManager; its messages become BullMQ progress and the outcome. */
function runJob(jobs: JobManager, job: Job<TeamJobData, TeamOutcome>, inputs: DecodedInputs, front: FrontClient, signal: AbortSignal | undefined, log: Logger): Promise<LocalOutcome> {
  const spec = job.data.spec;
  const bullId = job.id!;
  jobs.release(spec.jobId); // a re-run of a job this worker ran before
  return new Promise((resolve) => {
    let size = { width: 0, height: 0, steps: 0 };
    let result: ResultMessage | undefined;
    const frames: Array<{ header: FrameHeader; payload: Uint8Array }> = [];
    const report = (p: TeamProgress): void => void job.updateProgress(p).catch((e: Error) => log.debug(`progress of ${bullId} not sent: ${e.message}`));
    const done = (o: LocalOutcome): void => {
      signal?.removeEventListener('abort', onAbort);
      jobs.release(spec.jobId);
      resolve(o);
    };
    const sub: Subscriber = {
      id: `bull-${bullId}`,
      label: `${job.data.user}/${spec.jobId}`,
      send(m: ServerMessage) {
        switch (m.type) {
          case 'started':
            size = { width: m.width, height: m.height, steps: m.steps };
            return report({ kind: 'started', ...size });
          case 'progress':
            return report({ kind: 'progress', step: m.step, total: m.total, elapsedMs: m.elapsedMs, etaMs: m.etaMs, ...(m.preview ? { preview: m.preview } : {}), ...size });
          case 'result':
            result = m;
            return maybeDone();
          case 'error':
            return done({ kind: 'error', message: m });
          case 'cancelled':
            return done({ kind: 'cancelled', reason: m.reason });
          default:
            return undefined; // accepted, queued: local bookkeeping
        }
      },
      sendFrame(h: FrameHeader, payload: Uint8Array) {
        if (h.role === 'preview') {
          void front.postPreview(bullId, h.index, h.width, h.height, payload);
          return;
        }
        frames.push({ header: h, payload });
        maybeDone();
      },
    };
    function maybeDone(): void {
      if (result && frames.length === result.images.length + result.controlImages.length) done({ kind: 'result', message: result, frames });
    }
    const onAbort = (): void => void jobs.cancel(spec.jobId, reasonOf(signal));
    if (signal?.aborted) return resolve({ kind: 'cancelled', reason: reasonOf(signal) });
    signal?.addEventListener('abort', onAbort, { once: true });
    if (!jobs.reserve(spec.jobId)) return done({ kind: 'error', message: { type: 'error', code: 'internal', message: `job id ${spec.jobId} is busy on this worker`, jobId: spec.jobId } });
    jobs.submit(spec, inputs, sub, job.data.user);
  });
}

function reasonOf(signal: AbortSignal | undefined): CancelReason {
  const r: unknown = signal?.reason;
  return r === 'disconnected' || r === 'shutdown' ? r : 'client';
}
