/**
 * Jobs: the fair queue, one job running on the engine at a time, progress to every connection watching
 * a job, and finished outcomes kept (TTL + byte cap) so a client that reconnects can fetch them. A job
 * whose clients all left is cancelled after a grace period if it has not started; a running one finishes
 * (its steps are bounded) and its result waits to be fetched.
 */
import { randomInt } from 'node:crypto';
import { CancelledError, EngineError, type Engine, type EngineErrorCode, type RgbaImage } from '../engine/api.ts';
import type { FrameHeader } from '../shared/protocol/frame.ts';
import type {
  CancelReason, CancelledMessage, ErrorCode, ErrorMessage, ImageDescriptor, InputHashes, ProgressMessage, ResultMessage,
  ServerMessage, StartedMessage,
} from '../shared/protocol/messages.ts';
import type { NormalizedJob } from '../shared/protocol/validate.ts';
import { sha256Hex } from './blobs.ts';
import { outOfMemoryError } from './engine-host/out-of-memory.ts';
import { encodePng } from './image.ts';
import { withPngText } from './png-text.ts';
import { resultText, type ResultText } from './result-text.ts';
import type { Logger } from './log.ts';
import type { Family } from '../engine/pipeline/family.ts';
import { ByteLru } from './lru.ts';
import { finishImages, JobInputError, prepareJob, resultMetadata, type DecodedInputs } from './pipeline.ts';
import { FairQueue } from './queue.ts';

/** A connection watching jobs. `droppable` messages may be skipped when the client reads too slowly. */
export interface Subscriber {
  readonly id: string;
  readonly label: string;
  /** The authenticated user (team front only); job ids and ownership are per user there. */
  readonly user?: string;
  send(m: ServerMessage, droppable?: boolean): void;
  sendFrame(h: FrameHeader, payload: Uint8Array, droppable?: boolean): void;
}

/**
 * What a connection (bridge/session.ts) needs from whoever runs its jobs: the local JobManager, or the
 * team front's queue on Redis (bridge/team/team-jobs.ts). Answers that need a round trip (cancel,
 * resume) may come as a promise; everything else a service sends to the subscriber itself.
 */
export interface JobService {
  readonly engineAvailable: boolean;
  readonly engineErrorText: string;
  readonly queueFull: boolean;
  countWatchedBy(sub: Subscriber): number;
  /** Claims a job id while its frames arrive. False if the id is in use. */
  reserve(id: string, by: Subscriber): boolean;
  unreserve(id: string, by: Subscriber): void;
  /** Queues a reserved job and answers `accepted` (or an error) to `sub`. */
  submit(spec: NormalizedJob, inputs: DecodedInputs, sub: Subscriber, owner: string): void;
  /** False (or a promise of false) when `by` has no such queued or running job. */
  cancel(id: string, reason: CancelReason, by?: Subscriber): boolean | Promise<boolean>;
  /** False (or a promise of false) when `sub` has no such live or retained job. */
  resume(id: string, sub: Subscriber): boolean | Promise<boolean>;
  release(id: string, by?: Subscriber): void;
  detach(sub: Subscriber): void;
}

export interface JobManagerOptions {
  engine: Engine | null;
  engineError?: string;
  maxPixels: number;
  maxQueue: number;
  disconnectGraceMs: number;
  resultTtlMs: number;
  resultCacheBytes: number;
  log: Logger;
  /** The model family of the checkpoint a job names (or the default one): its defaults fill what the job leaves out. */
  familyOf?: (checkpoint: string | undefined) => Promise<Family>;
}

interface OutFrame {
  header: FrameHeader;
  payload: Uint8Array;
}

type Outcome =
  | { kind: 'result'; message: ResultMessage; frames: OutFrame[] }
  | { kind: 'error'; message: ErrorMessage }
  | { kind: 'cancelled'; message: CancelledMessage };

interface LiveJob {
  readonly id: string;
  readonly owner: string;
  readonly spec: NormalizedJob;
  readonly hashes: InputHashes;
  inputs?: DecodedInputs;
  state: 'queued' | 'running';
  readonly subscribers: Set<Subscriber>;
  readonly controller: AbortController;
  cancelReason?: CancelReason;
  readonly submittedAt: number;
  started?: StartedMessage;
  lastProgress?: ProgressMessage;
  lastPosition: number;
  graceTimer?: ReturnType<typeof setTimeout>;
}

export class JobManager implements JobService {
  private readonly queue = new FairQueue<LiveJob>();
  private readonly live = new Map<string, LiveJob>();
  /** Ids whose message arrived and whose frames are still coming. */
  private readonly reserved = new Set<string>();
  private readonly outcomes: ByteLru<Outcome>;
  private running?: { job: LiveJob; done: Promise<void> };
  private stopping = false;

  constructor(private readonly opts: JobManagerOptions) {
    this.outcomes = new ByteLru<Outcome>({
      maxBytes: opts.resultCacheBytes,
      ttlMs: opts.resultTtlMs,
      sizeOf: (o) => 1024 + (o.kind === 'result' ? o.frames.reduce((s, f) => s + f.payload.byteLength, 0) : 0),
    });
  }

  get engineAvailable(): boolean {
    return this.opts.engine !== null;
  }

  get engineErrorText(): string {
    return this.opts.engineError ?? 'unknown reason';
  }

  /** Live jobs a connection watches (for its per-connection limit). */
  countWatchedBy(sub: Subscriber): number {
    let n = 0;
    for (const j of this.live.values()) if (j.subscribers.has(sub)) n++;
    return n;
  }

  get queueFull(): boolean {
    return this.queue.length + this.reserved.size >= this.opts.maxQueue;
  }

  /** Drops expired results (the cache also prunes on access; this frees memory when nobody asks). */
  prune(): void {
    this.outcomes.prune();
  }

  stats(): { queued: number; running: number; retained: number; retainedBytes: number } {
    this.outcomes.prune();
    return { queued: this.queue.length, running: this.running ? 1 : 0, retained: this.outcomes.size, retainedBytes: this.outcomes.bytes };
  }

  /** Claims a job id while its frames arrive. False if the id is live, reserved or retained. */
  reserve(id: string): boolean {
    if (this.live.has(id) || this.reserved.has(id) || this.outcomes.has(id)) return false;
    this.reserved.add(id);
    return true;
  }

  unreserve(id: string): void {
    this.reserved.delete(id);
  }

  /** Queues a reserved job and answers `accepted`. */
  submit(spec: NormalizedJob, inputs: DecodedInputs, sub: Subscriber, owner: string): void {
    this.reserved.delete(spec.jobId);
    if (this.stopping) {
      sub.send(errorMessage('shutting-down', 'the daemon is shutting down', spec.jobId));
      return;
    }
    const job: LiveJob = {
      id: spec.jobId, owner, spec, inputs, hashes: inputs.hashes, state: 'queued', subscribers: new Set([sub]),
      controller: new AbortController(), submittedAt: Date.now(), lastPosition: -1,
    };
    this.live.set(job.id, job);
    this.queue.push(job);
    job.lastPosition = this.running ? this.queue.position(job.id) + 1 : this.queue.position(job.id);
    sub.send({ type: 'accepted', jobId: job.id, position: job.lastPosition, inputs: job.hashes });
    this.opts.log.debug(`job ${job.id} queued at ${job.lastPosition} for ${sub.label}`);
    this.pump();
    this.announcePositions();
  }

  /** Cancels a queued or running job. Returns false if the id is not live. */
  cancel(id: string, reason: CancelReason): boolean {
    const job = this.live.get(id);
    if (!job) return false;
    job.cancelReason ??= reason;
    if (job.state === 'running') {
      job.controller.abort(); // the engine stops within one step; run() reports it
      return true;
    }
    this.queue.remove(id);
    this.finish(job, { kind: 'cancelled', message: { type: 'cancelled', jobId: id, reason } });
    this.opts.log.info(`job ${id} cancelled while queued (${reason})`);
    this.announcePositions();
    return true;
  }

  /** Attaches a connection to a live or finished job; replays the state. False if unknown. */
  resume(id: string, sub: Subscriber): boolean {
    const job = this.live.get(id);
    if (job) {
      job.subscribers.add(sub);
      if (job.graceTimer) clearTimeout(job.graceTimer);
      job.graceTimer = undefined;
      const position = job.state === 'running' ? 0 : this.positionOf(job);
      sub.send({ type: 'accepted', jobId: id, position, inputs: job.hashes });
      if (job.started) sub.send(job.started);
      if (job.lastProgress) sub.send(job.lastProgress);
      return true;
    }
    const o = this.outcomes.get(id);
    if (!o) return false;
    deliver(o, sub);
    return true;
  }

  release(id: string): boolean {
    return this.outcomes.delete(id);
  }

  /** A connection closed: its jobs lose a watcher; unwatched queued jobs are cancelled after the grace period. */
  detach(sub: Subscriber): void {
    for (const job of this.live.values()) {
      if (!job.subscribers.delete(sub) || job.subscribers.size > 0) continue;
      job.graceTimer = setTimeout(() => {
        job.graceTimer = undefined;
        if (job.subscribers.size === 0 && job.state === 'queued') this.cancel(job.id, 'disconnected');
      }, this.opts.disconnectGraceMs);
      job.graceTimer.unref?.();
    }
  }

  /** Stop taking jobs, cancel everything, wait (bounded) for the running job to stop. */
  async shutdown(timeoutMs = 5000): Promise<void> {
    this.stopping = true;
    for (const job of this.queue.items()) this.cancel(job.id, 'shutdown');
    const running = this.running;
    if (running) {
      running.job.cancelReason = 'shutdown';
      running.job.controller.abort();
      await Promise.race([running.done, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    }
    for (const job of this.live.values()) if (job.graceTimer) clearTimeout(job.graceTimer);
  }

  private positionOf(job: LiveJob): number {
    return this.queue.position(job.id) + (this.running ? 1 : 0);
  }

  private pump(): void {
    if (this.running || this.stopping) return;
    const job = this.queue.shift();
    if (!job) return;
    const done = this.run(job).finally(() => {
      this.running = undefined;
      this.pump();
      this.announcePositions();
    });
    this.running = { job, done };
  }

  /** Tells queued jobs' watchers when their position changed. */
  private announcePositions(): void {
    for (const job of this.queue.items()) {
      const p = this.positionOf(job);
      if (p === job.lastPosition) continue;
      job.lastPosition = p;
      for (const s of job.subscribers) s.send({ type: 'queued', jobId: job.id, position: p }, true);
    }
  }

  private async run(job: LiveJob): Promise<void> {
    job.state = 'running';
    const t0 = Date.now();
    const timings: Record<string, number> = { queue: t0 - job.submittedAt };
    const signal = job.controller.signal;
    const p = job.spec.params;
    let size = '';
    let genStart = 0;
    let stepsDone = 0;
    // The engine's own count: a batch runs its steps once per image, img2img runs fewer than `steps`.
    let stepsTotal: number | undefined;
    let outcome: Outcome;
    try {
      const engine = this.opts.engine;
      if (!engine) throw new EngineError('engine-unavailable', this.opts.engineError ?? 'no engine');
      const family = await this.opts.familyOf?.(p.checkpoint);
      const prep = await prepareJob(job.spec, job.inputs!, { maxPixels: this.opts.maxPixels, seed: randomInt(0, 2 ** 32 - 1), ...(family ? { family } : {}) });
      job.inputs = undefined; // the prepared request holds what is still needed
      timings.prepare = Date.now() - t0;
      const rp = prep.request.params;
      size = `${rp.width}x${rp.height}`;
      job.started = { type: 'started', jobId: job.id, width: rp.width, height: rp.height, steps: rp.steps };
      this.broadcast(job, job.started);
      if (signal.aborted) throw new CancelledError();
      genStart = Date.now();
      const res = await engine.generate(prep.request, {
        signal,
        wantPreview: job.spec.output.preview,
        onProgress: (e) => {
          stepsDone = e.step;
          stepsTotal = e.total;
          const elapsed = Date.now() - genStart;
          const msg: ProgressMessage = {
            type: 'progress', jobId: job.id, step: e.step, total: e.total, elapsedMs: elapsed,
            etaMs: e.step > 0 ? Math.round((elapsed / e.step) * (e.total - e.step)) : 0,
          };
          if (e.preview && job.spec.output.preview) msg.preview = { width: e.preview.width, height: e.preview.height };
          job.lastProgress = msg;
          this.broadcast(job, msg, true);
          if (msg.preview && e.preview) this.broadcastFrame(job, previewHeader(job.id, e.step, e.preview), e.preview.data);
        },
      });
      if (signal.aborted) throw new CancelledError();
      timings.generate = Date.now() - genStart;
      // The files' text comes from the same metadata the client receives (timings are not in it).
      const metadata = resultMetadata(prep, res, job.hashes, timings);
      const tEnc = Date.now();
      const outputs = await finishImages(prep, res.images);
      const frames: OutFrame[] = [];
      const images = await this.encodeAll(job, outputs, 'result', frames, (i) => resultText(metadata, i));
      const controlImages = job.spec.output.controlImages && res.controlImages ? await this.encodeAll(job, res.controlImages, 'control-result', frames) : [];
      metadata.timings = { ...metadata.timings, encode: Date.now() - tEnc, total: Date.now() - job.submittedAt };
      outcome = { kind: 'result', message: { type: 'result', jobId: job.id, images, controlImages, metadata }, frames };
    } catch (e) {
      outcome = this.failure(job, e);
    }
    this.finish(job, outcome);
    const total = Date.now() - t0;
    const perStep = stepsDone > 0 ? ((Date.now() - genStart) / stepsDone).toFixed(1) : '-';
    const what = outcome.kind === 'result' ? 'ok' : outcome.kind === 'cancelled' ? `cancelled (${outcome.message.reason})` : `error ${outcome.message.code}: ${outcome.message.message}`;
    const steps = stepsTotal === undefined ? 'no steps run' : `steps=${stepsDone}/${stepsTotal}${p.batchSize > 1 ? ` (batch of ${p.batchSize})` : ''} ${perStep} ms/step`;
    this.opts.log.info(`job ${job.id} ${size || '?'} ${steps} total ${(total / 1000).toFixed(2)} s queue ${timings.queue} ms ${what}`);
  }

  private failure(job: LiveJob, e: unknown): Outcome {
    if (job.controller.signal.aborted || e instanceof CancelledError) {
      return { kind: 'cancelled', message: { type: 'cancelled', jobId: job.id, reason: job.cancelReason ?? 'client' } };
    }
    if (e instanceof JobInputError) return { kind: 'error', message: errorMessage('invalid-field', e.message, job.id, e.field) };
    // The engine process maps allocation failures itself; an in-process engine's raw error is mapped here.
    const p = job.spec.params;
    const [width, height] = [job.started?.width ?? p.width ?? 512, job.started?.height ?? p.height ?? 512];
    e = outOfMemoryError(e, { provider: this.opts.engine?.provider ?? 'cpu', width, height, batchSize: p.batchSize }) ?? e;
    if (e instanceof EngineError) return { kind: 'error', message: errorMessage(protocolCode(e.code), e.message, job.id, e.field) };
    this.opts.log.error(`job ${job.id} failed`, e);
    return { kind: 'error', message: errorMessage('internal', `internal error: ${(e as Error)?.message ?? String(e)}`, job.id) };
  }

  /** PNG results carry the A1111 parameters text and the full metadata, so the file alone can be regenerated. */
  private async encodeAll(job: LiveJob, imgs: readonly RgbaImage[], role: 'result' | 'control-result', frames: OutFrame[], text?: (index: number) => ResultText): Promise<ImageDescriptor[]> {
    const format = job.spec.output.format;
    const out: ImageDescriptor[] = [];
    for (let index = 0; index < imgs.length; index++) {
      const img = imgs[index];
      const payload = format === 'png' ? (text ? withPngText(await encodePng(img), { ...text(index) }) : await encodePng(img)) : img.data;
      const hash = sha256Hex(payload);
      frames.push({ header: { role, format, jobId: job.id, index, width: img.width, height: img.height, premultiplied: false, hash }, payload });
      out.push({ index, width: img.width, height: img.height, format, hash, bytes: payload.byteLength });
    }
    return out;
  }

  private finish(job: LiveJob, outcome: Outcome): void {
    this.live.delete(job.id);
    if (job.graceTimer) clearTimeout(job.graceTimer);
    job.inputs = undefined;
    if (!this.outcomes.set(job.id, outcome)) this.opts.log.warn(`result of job ${job.id} is larger than --result-cache; it cannot be fetched after a reconnect`);
    for (const s of job.subscribers) deliver(outcome, s);
  }

  private broadcast(job: LiveJob, m: ServerMessage, droppable = false): void {
    for (const s of job.subscribers) s.send(m, droppable);
  }

  private broadcastFrame(job: LiveJob, h: FrameHeader, payload: Uint8Array): void {
    for (const s of job.subscribers) s.sendFrame(h, payload, true);
  }
}

/**
 * The protocol code of each engine error code: what a client can act on without reading the text.
 * Exhaustive by type; a code an older engine process sends that is not listed is `engine-error`.
 */
const PROTOCOL_CODE: Readonly<Record<EngineErrorCode, ErrorCode>> = {
  'invalid-field': 'invalid-field',
  'invalid-control': 'invalid-field',
  'invalid-keypoints': 'invalid-field',
  'model-missing': 'model-missing',
  'model-invalid': 'model-invalid',
  'model-wrong-type': 'model-mismatch',
  'model-mismatch': 'model-mismatch',
  'no-face': 'no-face',
  'face-index': 'no-face',
  'out-of-memory': 'out-of-memory',
  'engine-unavailable': 'engine-unavailable',
  'engine-crashed': 'engine-crashed',
};

export function protocolCode(code: EngineErrorCode): ErrorCode {
  return PROTOCOL_CODE[code] ?? 'engine-error';
}

function deliver(o: Outcome, sub: Subscriber): void {
  sub.send(o.message);
  if (o.kind === 'result') for (const f of o.frames) sub.sendFrame(f.header, f.payload);
}

function previewHeader(jobId: string, step: number, img: RgbaImage): FrameHeader {
  return { role: 'preview', format: 'raw-rgba8', jobId, index: Math.min(step, 0xffff), width: img.width, height: img.height, premultiplied: false };
}

export function errorMessage(code: ErrorCode, message: string, jobId?: string, field?: string): ErrorMessage {
  return { type: 'error', code, message, ...(jobId ? { jobId } : {}), ...(field ? { field } : {}) };
}
