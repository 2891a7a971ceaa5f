/**
 * One generation's life, the same in both plugins: capture (the plugin's port reads its document and
 * builds the job), check it against the daemon's limits, remember it as pending, send it, follow its
 * progress, survive dropped connections, insert the result (the plugin's port) and let the daemon drop
 * its copy. Cancel works in every phase. No host APIs: the plugin supplies capture, insert and storage.
 *
 * After a dropped connection the job is resumed on the next connection; a daemon that does not know it
 * (it never got the whole job, or it restarted) gets it again under a new id, since the old id may still
 * be held by a partly received or failed copy. At most MAX_RECONNECTS drops per job.
 */
import { BridgeError, type BridgeClient, type JobHandlers, type JobInputs, type JobOutcome } from '../protocol/client.ts';
import type { Capabilities, JobMessage } from '../protocol/messages.ts';
import { validateJob } from '../protocol/validate.ts';
import type { BridgeConnection } from './connection.ts';
import { UserError } from './errors.ts';
import { newJobId } from './job.ts';
import type { PendingJobs } from './pending-jobs.ts';

export const MAX_RECONNECTS = 20;

export type JobPhase = 'reading' | 'sending' | 'queued' | 'running' | 'reconnecting' | 'inserting';

export interface JobProgress {
  phase: JobPhase;
  /** Set once the job has an id on the daemon (it changes when the job is sent again). */
  jobId: string | null;
  /** Jobs ahead in the daemon's queue. */
  position: number;
  step: number;
  total: number;
  etaMs: number;
  /** The generation size, once the daemon started the job. */
  size: { width: number; height: number } | null;
}

export interface PreviewImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface JobWatcher {
  progress(p: Readonly<JobProgress>): void;
  preview(img: PreviewImage): void;
}

export interface CapturedJob {
  job: JobMessage;
  inputs: JobInputs;
  /** Kept with the pending job: what the plugin needs to place a result recovered in a later session. */
  context: Record<string, unknown>;
}

/** The plugin's side of one generation. */
export interface GenerationPorts<Placed> {
  /** Reads the document and builds the job under `jobId`, within the daemon's `caps`. */
  capture(jobId: string, caps: Capabilities): Promise<CapturedJob>;
  /** Puts the result into the document. `job` is the job as last sent (its id may be a resend's). */
  insert(outcome: JobOutcome, job: JobMessage): Promise<Placed>;
}

export interface LifecycleDeps {
  connection: BridgeConnection;
  pending: PendingJobs;
  /** Job id prefix: the plugin's name. */
  idPrefix: string;
  random(): number;
  now(): number;
}

export class JobLifecycle {
  private cancelRequested = false;
  private sentJobId: string | null = null;
  /** Wakes a job waiting for the connection to come back when the user cancels. */
  private wakeOnCancel: (() => void) | null = null;
  private state: JobProgress;

  constructor(private readonly deps: LifecycleDeps, private readonly watcher: JobWatcher, steps = 0) {
    this.state = { phase: 'reading', jobId: null, position: 0, step: 0, total: steps, etaMs: 0, size: null };
  }

  get progress(): Readonly<JobProgress> {
    return this.state;
  }

  get cancelled(): boolean {
    return this.cancelRequested;
  }

  cancel(): void {
    if (this.cancelRequested) return;
    this.cancelRequested = true;
    const client = this.deps.connection.client;
    if (this.sentJobId && client) client.cancel(this.sentJobId);
    this.wakeOnCancel?.();
    this.watcher.progress(this.state);
  }

  /** Runs the generation; throws BridgeError('cancelled') when cancelled, UserError for what the user can fix. */
  async run<Placed>(ports: GenerationPorts<Placed>): Promise<Placed> {
    const { connection, pending } = this.deps;
    const client = connection.state.phase === 'connected' ? connection.client : null;
    const caps = client?.welcome?.capabilities;
    if (!client || !caps) throw new UserError('Not connected to the ipa-bridge daemon yet.');
    this.set({ phase: 'reading' });
    const captured = await ports.capture(this.newId(), caps);
    this.throwIfCancelled();
    const check = validateJob(captured.job, { maxPixels: caps.maxPixels, maxBatch: caps.maxBatch });
    if (!check.ok) throw new UserError(`${check.error.message}${check.error.field ? ` (${check.error.field})` : ''}`);

    let job = captured.job;
    pending.add({ jobId: job.jobId, at: this.deps.now(), context: captured.context });
    try {
      const sent = await this.send(client, job, captured.inputs, captured.context);
      job = sent.job;
      this.set({ phase: 'inserting' });
      const placed = await ports.insert(sent.outcome, job);
      connection.client?.release(job.jobId); // the daemon may drop its copy now
      pending.drop(job.jobId);
      return placed;
    } catch (e) {
      // A closed connection keeps the job pending: the next session may still collect its result.
      if (!(e instanceof BridgeError && e.code === 'closed')) pending.drop(this.sentJobId ?? job.jobId);
      throw e;
    }
  }

  private newId(): string {
    return newJobId(this.deps.idPrefix, this.deps.now(), this.deps.random);
  }

  private throwIfCancelled(): void {
    if (this.cancelRequested) throw new BridgeError('cancelled', 'cancelled');
  }

  private set(patch: Partial<JobProgress>): void {
    Object.assign(this.state, patch);
    this.watcher.progress(this.state);
  }

  /** Sends and waits, across dropped connections: resume the job, or send it again if the daemon lost it. */
  private async send(first: BridgeClient, firstJob: JobMessage, inputs: JobInputs, context: Record<string, unknown>): Promise<{ job: JobMessage; outcome: JobOutcome }> {
    let client = first;
    let job = firstJob;
    let resuming = false;
    for (let drops = 0; ; ) {
      this.sentJobId = job.jobId;
      this.set({ phase: resuming ? 'queued' : 'sending', jobId: job.jobId });
      try {
        const handlers = this.handlers(job.jobId);
        const outcome = resuming ? await client.resume(job.jobId, handlers) : await client.submit(job, inputs, handlers);
        return { job, outcome };
      } catch (e) {
        if (!(e instanceof BridgeError)) throw e;
        if (e.code === 'closed' && drops < MAX_RECONNECTS) {
          drops++;
          client = await this.reconnected(job.jobId);
          resuming = true;
          continue;
        }
        if (e.code === 'unknown-job' && resuming) {
          this.deps.pending.drop(job.jobId);
          job = { ...job, jobId: this.newId() };
          this.deps.pending.add({ jobId: job.jobId, at: this.deps.now(), context });
          resuming = false;
          continue;
        }
        throw e;
      }
    }
  }

  /** The next connection, or BridgeError('cancelled') when the user cancels while waiting for it. */
  private async reconnected(jobId: string): Promise<BridgeClient> {
    this.set({ phase: 'reconnecting' });
    const next = this.cancelRequested ? null : await Promise.race([
      this.deps.connection.whenConnected(),
      new Promise<null>((resolve) => (this.wakeOnCancel = () => resolve(null))),
    ]);
    this.wakeOnCancel = null;
    if (!next || this.cancelRequested) {
      // The daemon cancels a job nobody watches after its grace period; tell it now if we can.
      (next ?? this.deps.connection.client)?.cancel(jobId);
      throw new BridgeError('cancelled', 'cancelled');
    }
    return next;
  }

  private handlers(jobId: string): JobHandlers {
    const mine = (): boolean => this.state.jobId === jobId;
    return {
      onAccepted: (m) => {
        // A resumed job may be running already: accepted says only where it stands in the queue.
        if (mine()) this.set({ phase: m.position > 0 || this.state.phase !== 'running' ? 'queued' : 'running', position: m.position });
      },
      onQueued: (m) => {
        if (mine()) this.set({ position: m.position });
      },
      onStarted: (m) => {
        if (mine()) this.set({ phase: 'running', total: m.steps, step: 0, position: 0, size: { width: m.width, height: m.height } });
      },
      onProgress: (m) => {
        if (mine()) this.set({ phase: 'running', step: m.step, total: m.total, etaMs: m.etaMs });
      },
      onPreview: (p) => {
        if (mine()) this.watcher.preview({ width: p.width, height: p.height, data: p.data });
      },
    };
  }
}
