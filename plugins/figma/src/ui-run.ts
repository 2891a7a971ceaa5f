/**
 * One generation, as the UI runs it: ask the sandbox for the PNGs, build the job from the settings,
 * submit it (re-attaching after a dropped connection: the daemon keeps finished results), report progress
 * and previews, and hand the result bytes to the sandbox for insertion. No DOM: the view subscribes.
 */
import { MAX_IMAGE_SIDE } from '../../../shared/plugin/budget.ts';
import type { BridgeConnection } from '../../../shared/plugin/connection.ts';
import { buildJob, chooseSeed, generationRecord, newJobId, settingsFor } from '../../../shared/plugin/job.ts';
import type { GenerationSettings } from '../../../shared/plugin/settings.ts';
import { BridgeError, type BridgeClient, type ImagePayload, type JobHandlers, type JobInputs, type JobOutcome } from '../../../shared/protocol/client.ts';
import type { JobMessage } from '../../../shared/protocol/messages.ts';
import { sha256Hex } from '../../../shared/protocol/sha256.ts';
import type { ExportedImage, Intent, Placement, ResultImage, TargetSummary } from './messages.ts';
import type { SandboxLink } from './ui-host.ts';

/** References feed CLIP at 224²; the daemon shrinks anything over 1024 a side. */
const REFERENCE_MAX_SIDE = 1024;
/** Re-attach attempts after drops before giving up on a job. */
const MAX_RESUMES = 5;

export type RunPhase = 'exporting' | 'sending' | 'queued' | 'running' | 'reconnecting' | 'placing' | 'done' | 'failed' | 'cancelled';

export interface RunStatus {
  phase: RunPhase;
  jobId?: string;
  seed?: number;
  position?: number;
  step?: number;
  total?: number;
  etaMs?: number;
  message?: string;
  /** On `done`: what was inserted. */
  images?: ResultImage[];
  nodeIds?: string[];
}

export interface RunCallbacks {
  status(s: RunStatus): void;
  preview(img: { width: number; height: number; data: Uint8Array }): void;
}

export interface RunRequest {
  intent: Intent;
  /** The form's settings (generate) — regenerate/variation use the target's record instead. */
  settings: GenerationSettings;
  placement: Placement;
  target: TargetSummary;
}

export interface RunDeps {
  conn: BridgeConnection;
  sandbox: Pick<SandboxLink, 'exportFor' | 'insert' | 'newRequestId'>;
  random(): number;
  now(): number;
}

class Cancelled extends Error {}

export class GenerationRun {
  private status: RunStatus = { phase: 'exporting' };
  private cancelled = false;
  private client: BridgeClient | null = null;
  private wakeCancelled: (() => void) | null = null;

  constructor(private readonly deps: RunDeps, private readonly req: RunRequest, private readonly cb: RunCallbacks) {}

  get phase(): RunPhase {
    return this.status.phase;
  }

  cancel(): void {
    if (this.cancelled || ['done', 'failed', 'cancelled'].includes(this.status.phase)) return;
    this.cancelled = true;
    if (this.status.jobId && this.client && this.deps.conn.client === this.client) this.client.cancel(this.status.jobId);
    else this.wakeCancelled?.(); // nothing on the daemon yet (or offline): stop here
  }

  async start(): Promise<void> {
    try {
      await this.run();
    } catch (e) {
      if (e instanceof Cancelled || (e instanceof BridgeError && e.code === 'cancelled')) this.set({ phase: 'cancelled', message: 'Cancelled.' });
      else this.set({ phase: 'failed', message: describeError(e) });
    }
  }

  private set(patch: Partial<RunStatus>): void {
    this.status = { ...this.status, ...patch };
    this.cb.status(this.status);
  }

  private async run(): Promise<void> {
    const { conn, sandbox } = this.deps;
    const { intent, target } = this.req;
    const client = conn.client;
    const caps = client?.welcome?.capabilities;
    if (!client || !caps) throw new Error('Not connected to the daemon.');
    const record = intent === 'generate' ? null : target.record;
    if (intent !== 'generate' && !record) throw new Error('The selection is not a generated image.');
    const settings = record ? settingsFor(record, intent === 'regenerate' ? 'regenerate' : 'variation', this.deps.random) : this.req.settings;
    if (!settings.prompt.trim()) throw new Error('Write a prompt first.');

    this.set({ phase: 'exporting', message: 'Exporting from Figma…' });
    const exported = await sandbox.exportFor({
      type: 'export', requestId: sandbox.newRequestId(), intent, wantInit: settings.useInit,
      budget: { maxPixels: Math.min(caps.maxPixels, caps.maxInputPixels), maxSide: MAX_IMAGE_SIDE, referenceMaxSide: REFERENCE_MAX_SIDE },
    });
    this.checkCancelled();

    const seed = chooseSeed(settings, this.deps.random);
    const jobId = newJobId('figma', this.deps.now(), this.deps.random);
    const job = buildJob(settings, {
      jobId, seed, hasInit: exported.init !== null, area: { width: target.width, height: target.height },
      references: exported.references.length, controls: exported.controls.length, preview: caps.features.includes('preview'),
    }, caps);
    const inputs: JobInputs = {
      ...(exported.init ? { init: payload(exported.init) } : {}),
      references: exported.references.map(payload),
      controls: exported.controls.map(payload),
    };
    for (const img of [inputs.init, ...(inputs.references ?? []), ...(inputs.controls ?? [])]) {
      if (img && img.data.length + 1024 > caps.maxPayload) throw new Error(`An exported image is ${mb(img.data.length)}, over the daemon's message limit of ${mb(caps.maxPayload)}.`);
    }
    this.set({ phase: 'sending', jobId, seed, message: `Sending ${describeInputs(exported)}…` });
    const outcome = await this.submit(job, inputs);

    this.set({ phase: 'placing', message: 'Placing in Figma…' });
    const createdAt = new Date(this.deps.now()).toISOString();
    const images: ResultImage[] = outcome.images.map((img) => {
      const { width, height } = img.descriptor;
      if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE) throw new Error(`The daemon returned ${width}×${height}; Figma images stop at ${MAX_IMAGE_SIDE} px a side.`);
      // slice(): the payload is a view into the whole frame; posting a view would copy the header too.
      return { bytes: img.data.slice(), width, height, record: generationRecord(settings, outcome.result.metadata, jobId, img.descriptor.index, createdAt) };
    });
    const placement: Placement = intent === 'regenerate' ? 'fill' : intent === 'variation' ? 'beside' : target.canFill ? this.req.placement : 'beside';
    const nodeIds = await sandbox.insert({ type: 'insert', requestId: sandbox.newRequestId(), targetId: exported.target.id, placement, images });
    this.deps.conn.client?.release(jobId); // the daemon may drop its copy now
    const n = images.length;
    this.set({ phase: 'done', images, nodeIds, message: `${n === 1 ? 'Image' : `${n} variations`} placed (seed ${seed}${n > 1 ? `–${seed + n - 1}` : ''}).` });
  }

  /** Submits, and after a dropped connection waits for the next one and re-attaches to the job. */
  private async submit(job: JobMessage, inputs: JobInputs): Promise<JobOutcome> {
    const handlers: JobHandlers = {
      onAccepted: (m) => this.set({ phase: 'queued', position: m.position, message: m.position > 0 ? `Queued (${m.position} ahead)…` : 'Starting…' }),
      onQueued: (m) => this.set({ phase: 'queued', position: m.position, message: `Queued (${m.position} ahead)…` }),
      onStarted: (m) => this.set({ phase: 'running', step: 0, total: m.steps, message: `Generating ${m.width}×${m.height}…` }),
      onProgress: (m) => this.set({ phase: 'running', step: m.step, total: m.total, etaMs: m.etaMs, message: `Step ${m.step} of ${m.total}` }),
      onPreview: (p) => this.cb.preview(p),
    };
    let accepted = false;
    const onAccepted = handlers.onAccepted!;
    handlers.onAccepted = (m) => {
      accepted = true;
      onAccepted(m);
    };
    this.client = this.deps.conn.client;
    if (!this.client) throw new Error('Not connected to the daemon.');
    let attempt: Promise<JobOutcome> = this.client.submit(job, inputs, handlers);
    for (let drops = 0; ; drops++) {
      try {
        return await attempt;
      } catch (e) {
        if (!(e instanceof BridgeError) || e.code !== 'closed' || drops >= MAX_RESUMES) throw e;
      }
      this.set({ phase: 'reconnecting', message: 'Connection lost: reconnecting to pick up the job…' });
      this.client = await this.untilConnectedOrCancelled();
      if (this.cancelled) {
        this.client.cancel(job.jobId);
        throw new Cancelled();
      }
      // Not yet accepted: the daemon may never have seen it. Try to re-attach, else send it again.
      attempt = this.client.resume(job.jobId, handlers).catch((e: unknown) => {
        if (!accepted && e instanceof BridgeError && e.code === 'unknown-job') return this.client!.submit(job, inputs, handlers);
        throw e;
      });
    }
  }

  private untilConnectedOrCancelled(): Promise<BridgeClient> {
    return new Promise((resolve, reject) => {
      this.wakeCancelled = () => reject(new Cancelled());
      this.deps.conn.whenConnected().then(resolve);
    });
  }

  private checkCancelled(): void {
    if (this.cancelled) throw new Cancelled();
  }
}

function payload(img: ExportedImage): ImagePayload {
  // The hash lets the client send `{source:'hash'}` when the daemon still holds these exact bytes.
  return { format: 'png', width: 0, height: 0, data: img.bytes, hash: sha256Hex(img.bytes) };
}

function describeInputs(e: { init: ExportedImage | null; references: ExportedImage[]; controls: ExportedImage[] }): string {
  const parts: string[] = [];
  if (e.init) parts.push(`${e.init.width}×${e.init.height} init`);
  if (e.references.length) parts.push(`${e.references.length} style ref${e.references.length > 1 ? 's' : ''}`);
  if (e.controls.length) parts.push(`${e.controls.length} pose/control`);
  return parts.length ? parts.join(', ') : 'prompt';
}

function mb(n: number): string {
  return `${(n / 1048576).toFixed(1)} MB`;
}

export function describeError(e: unknown): string {
  if (e instanceof BridgeError) {
    if (e.code === 'closed') return 'The connection to the daemon closed and the job could not be picked up again.';
    if (e.code === 'engine-unavailable') return `The daemon has no working engine: ${e.message}`;
    return e.message;
  }
  return e instanceof Error ? e.message : String(e);
}
