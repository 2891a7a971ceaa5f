/**
 * Live mode, the same in both plugins: the host reports edits (Photoshop's notifications, Figma's
 * `documentchange`), this controller turns them into jobs.
 *
 * - Debounced: a burst of edits (a brush stroke, a drag) becomes one job `debounceMs` after the last.
 * - Single flight: at most one live job exists on the daemon. An edit while one runs cancels it at
 *   once (its result would be stale: the daemon frees the step loop for the next one within a step),
 *   and the next job starts only after the cancelled one has ended.
 * - Cheap transport: every input goes with its sha256; inputs the daemon confirmed holding
 *   (`accepted.inputs`) are sent as hash references by BridgeClient, so an unchanged reference or
 *   control layer crosses the wire once per session and only the edited pixels are sent again.
 * - Fixed seed while live: the seed is chosen when live mode starts, so a change in the picture
 *   comes from the edit, not from new noise.
 *
 * No host APIs and no DOM: the plugin supplies the capture (the job for the document as it is now)
 * and the show port (panel preview, live layer); timers are injected so tests can drive them.
 */
import { BridgeError, type ImagePayload, type JobInputs, type JobOutcome } from '../protocol/client.ts';
import type { Capabilities, JobMessage } from '../protocol/messages.ts';
import { sha256Hex } from '../protocol/sha256.ts';
import { validateJob } from '../protocol/validate.ts';
import type { BridgeConnection } from './connection.ts';
import { UserError } from './errors.ts';
import { newJobId } from './job.ts';
import type { PreviewImage } from './job-lifecycle.ts';

/** Waiting for edits, a debounce timer armed, a job in flight, or no connection to send to. */
export type LivePhase = 'off' | 'idle' | 'debouncing' | 'running' | 'offline';

export interface LiveCaptured {
  job: JobMessage;
  inputs: JobInputs;
}

export interface LivePorts {
  /** The job for the document as it is now, under `jobId` with `seed`; null when there is nothing to generate from. */
  capture(jobId: string, caps: Capabilities, seed: number): Promise<LiveCaptured | null>;
  /** Shows a finished live result (panel preview, live layer). */
  show(outcome: JobOutcome, job: JobMessage): Promise<void>;
}

export interface LiveWatcher {
  phase(p: LivePhase, detail: { step: number; total: number }): void;
  preview(img: PreviewImage): void;
  error(e: unknown): void;
}

export interface LiveDeps {
  connection: BridgeConnection;
  idPrefix: string;
  random(): number;
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  /** Quiet time after the last edit before a job is sent. */
  debounceMs: number;
}

/** What live mode did, for the panels' status line and for tests. */
export interface LiveStats {
  /** Jobs submitted to the daemon. */
  jobs: number;
  /** Jobs cancelled because a newer edit arrived (or live mode stopped). */
  cancelled: number;
  /** Results shown. */
  results: number;
  /** Most live jobs on the daemon at once (1 by construction). */
  maxInFlight: number;
  /** Input images sent as frames, and as hash references to images the daemon holds. */
  framesSent: number;
  sentByHash: number;
}

interface Flight {
  jobId: string | null;
  cancelled: boolean;
}

export class LiveController {
  private enabled = false;
  private seed = 0;
  private timer: unknown = null;
  private flight: Flight | null = null;
  private inFlightOnDaemon = 0;
  /** An edit came while a (cancelled) job was still ending: run again once it has. */
  private again = false;
  /** Input hashes the daemon confirmed holding, as the current client knows them (a new connection starts empty). */
  private readonly held = new Set<string>();
  private heldBy: unknown = null;
  private offlineWait = false;
  readonly stats: LiveStats = { jobs: 0, cancelled: 0, results: 0, maxInFlight: 0, framesSent: 0, sentByHash: 0 };

  constructor(private readonly deps: LiveDeps, private readonly ports: LivePorts, private readonly watcher: LiveWatcher) {}

  get active(): boolean {
    return this.enabled;
  }

  /** The seed every live job uses until live mode is stopped. */
  get liveSeed(): number {
    return this.seed;
  }

  /** Starts live mode with a fixed seed and runs a first job right away. */
  start(seed: number): void {
    this.enabled = true;
    this.seed = seed >>> 0;
    this.fire();
  }

  /** Stops live mode: cancels the running job and any pending edit. */
  stop(): void {
    this.enabled = false;
    this.again = false;
    if (this.timer !== null) this.deps.clearTimer(this.timer);
    this.timer = null;
    if (this.flight) this.cancelFlight(this.flight);
    this.watcher.phase('off', { step: 0, total: 0 });
  }

  /** A document edit: cancels a running (now stale) job and (re)arms the debounce timer. */
  edit(): void {
    if (!this.enabled) return;
    if (this.flight && !this.flight.cancelled) this.cancelFlight(this.flight);
    if (this.timer !== null) this.deps.clearTimer(this.timer);
    this.timer = this.deps.setTimer(() => {
      this.timer = null;
      this.fire();
    }, this.deps.debounceMs);
    this.watcher.phase('debouncing', { step: 0, total: 0 });
  }

  private fire(): void {
    if (!this.enabled) return;
    if (this.flight) {
      this.again = true; // the cancelled job is still ending: one job at a time
      return;
    }
    void this.run();
  }

  private cancelFlight(f: Flight): void {
    f.cancelled = true;
    this.stats.cancelled++;
    const client = this.deps.connection.client;
    if (f.jobId && client) client.cancel(f.jobId);
  }

  private async run(): Promise<void> {
    const { connection } = this.deps;
    const client = connection.state.phase === 'connected' ? connection.client : null;
    const caps = client?.welcome?.capabilities;
    if (!client || !caps) {
      this.watcher.phase('offline', { step: 0, total: 0 });
      if (!this.offlineWait) {
        // Run once the connection is back (an edit made offline is not lost).
        this.offlineWait = true;
        void connection.whenConnected().then(() => {
          this.offlineWait = false;
          this.fire();
        });
      }
      return;
    }
    const flight: Flight = { jobId: null, cancelled: false };
    this.flight = flight;
    this.watcher.phase('running', { step: 0, total: 0 });
    try {
      const jobId = newJobId(this.deps.idPrefix, this.deps.now(), this.deps.random);
      const captured = await this.ports.capture(jobId, caps, this.seed);
      if (flight.cancelled || !captured || !this.enabled) return;
      const check = validateJob(captured.job, { maxPixels: caps.maxPixels, maxBatch: caps.maxBatch });
      if (!check.ok) throw new UserError(`${check.error.message}${check.error.field ? ` (${check.error.field})` : ''}`);
      if (this.heldBy !== client) {
        this.held.clear();
        this.heldBy = client;
      }
      this.count(captured.inputs);
      flight.jobId = captured.job.jobId;
      this.stats.jobs++;
      this.inFlightOnDaemon++;
      this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.inFlightOnDaemon);
      let outcome: JobOutcome;
      try {
        outcome = await client.submit(captured.job, captured.inputs, {
          onAccepted: (m) => {
            for (const h of [m.inputs.init, m.inputs.mask, ...m.inputs.references, ...m.inputs.controls]) if (h) this.held.add(h);
          },
          onProgress: (m) => {
            if (!flight.cancelled) this.watcher.phase('running', { step: m.step, total: m.total });
          },
          onPreview: (p) => {
            if (!flight.cancelled) this.watcher.preview({ width: p.width, height: p.height, data: p.data });
          },
        });
      } finally {
        this.inFlightOnDaemon--;
      }
      client.release(captured.job.jobId);
      // A result that finished just as an edit came in is already stale: the next job replaces it.
      if (flight.cancelled || !this.enabled) return;
      await this.ports.show(outcome, captured.job);
      this.stats.results++;
    } catch (e) {
      if (!(e instanceof BridgeError && (e.code === 'cancelled' || e.code === 'closed'))) this.watcher.error(e);
    } finally {
      this.flight = null;
      if (this.enabled && this.again) {
        this.again = false;
        void this.run();
      } else if (this.enabled && this.timer === null) {
        this.watcher.phase('idle', { step: 0, total: 0 });
      }
    }
  }

  /** Gives every input its hash (the client sends held ones by reference) and counts what goes how. */
  private count(inputs: JobInputs): void {
    const all: Array<ImagePayload | undefined> = [inputs.init, inputs.mask, ...(inputs.references ?? []), ...(inputs.controls ?? [])];
    for (const img of all) {
      if (!img) continue;
      if (!img.hash) img.hash = sha256Hex(img.data);
      if (this.held.has(img.hash)) this.stats.sentByHash++;
      else this.stats.framesSent++;
    }
  }
}
