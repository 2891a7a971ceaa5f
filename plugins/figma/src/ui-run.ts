/**
 * One generation, as the Figma UI runs it, on the shared job lifecycle (shared/plugin/job-lifecycle.ts):
 * the ports here ask the sandbox for the PNGs (capture) and hand it the result bytes (insert); the
 * lifecycle sends, resumes after dropped connections, cancels and keeps the job pending. This file turns
 * the lifecycle's progress into the run line's words. No DOM: the view subscribes.
 */
import { MAX_IMAGE_SIDE } from '../../../shared/plugin/budget.ts';
import type { BridgeConnection } from '../../../shared/plugin/connection.ts';
import { errorText, isCancelled, UserError } from '../../../shared/plugin/errors.ts';
import { buildJob, chooseSeed, TARGET_PIXELS } from '../../../shared/plugin/job.ts';
import { familyGenerationSize, familyOffer, settingsForFamily } from '../../../shared/plugin/families.ts';
import { referenceMaskSize, selectsSomething, shapeMask } from '../../../shared/plugin/reference-mask.ts';
import { JobLifecycle, type CapturedJob, type JobProgress, type PreviewImage } from '../../../shared/plugin/job-lifecycle.ts';
import type { PendingJobs } from '../../../shared/plugin/pending-jobs.ts';
import { createRecord, repeatFromRecord, type Repeat } from '../../../shared/plugin/record.ts';
import type { GenerationSettings } from '../../../shared/plugin/settings.ts';
import type { ImagePayload, JobInputs, JobOutcome } from '../../../shared/protocol/client.ts';
// References are exported no larger than the daemon would shrink them to (one constant for all sides).
import { REFERENCE_MAX_SIDE } from '../../../shared/protocol/limits.ts';
import type { Capabilities, JobMessage } from '../../../shared/protocol/messages.ts';
import { sha256Hex } from '../../../shared/protocol/sha256.ts';
import type { ExportedImage, Intent, Placement, ResultImage, SandboxMessage, TargetSummary } from './messages.ts';
import type { SandboxLink } from './ui-host.ts';

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
  preview(img: PreviewImage): void;
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
  pending: PendingJobs;
  sandbox: Pick<SandboxLink, 'exportFor' | 'insert' | 'newRequestId'>;
  random(): number;
  now(): number;
}

type Exported = Extract<SandboxMessage, { type: 'exported' }>;

/** The run line's words for a phase of the lifecycle. */
export function progressText(p: Readonly<JobProgress>, sending: string): string {
  switch (p.phase) {
    case 'reading': return 'Exporting from Figma…';
    case 'sending': return sending;
    case 'queued': return p.position > 0 ? `Queued (${p.position} ahead)…` : 'Starting…';
    case 'running': return p.step > 0 || !p.size ? `Step ${p.step} of ${p.total}` : `Generating ${p.size.width}×${p.size.height}…`;
    case 'reconnecting': return 'Connection lost: reconnecting to pick up the job…';
    case 'inserting': return 'Placing in Figma…';
  }
}

const RUN_PHASE: Record<JobProgress['phase'], RunPhase> = {
  reading: 'exporting', sending: 'sending', queued: 'queued', running: 'running', reconnecting: 'reconnecting', inserting: 'placing',
};

export class GenerationRun {
  private status: RunStatus = { phase: 'exporting' };
  private readonly lifecycle: JobLifecycle;
  private readonly repeat: Repeat | null;
  private sendingText = 'Sending…';
  /** Where the results go: the exported target (for regenerate/variation, the generated node). */
  private destination: { targetId: string; placement: Placement } = { targetId: '', placement: 'fill' };

  constructor(private readonly deps: RunDeps, private readonly req: RunRequest, private readonly cb: RunCallbacks) {
    const record = req.intent === 'generate' ? null : req.target.record;
    this.repeat = record ? repeatFromRecord(record, req.intent === 'regenerate' ? 'regenerate' : 'variation', deps.random) : null;
    this.lifecycle = new JobLifecycle(
      { connection: deps.conn, pending: deps.pending, idPrefix: 'figma', random: deps.random, now: deps.now },
      { progress: (p) => this.onProgress(p), preview: (img) => cb.preview(img) },
    );
  }

  get phase(): RunPhase {
    return this.status.phase;
  }

  cancel(): void {
    if (!['done', 'failed', 'cancelled'].includes(this.status.phase)) this.lifecycle.cancel();
  }

  async start(): Promise<void> {
    try {
      const { images, nodeIds, seed } = await this.lifecycle.run({ capture: (id, caps) => this.capture(id, caps), insert: (o, job) => this.insert(o, job) });
      const n = images.length;
      this.set({ phase: 'done', images, nodeIds, message: `${n === 1 ? 'Image' : `${n} variations`} placed (seed ${seed}${n > 1 ? `–${seed + n - 1}` : ''}).` });
    } catch (e) {
      if (isCancelled(e)) this.set({ phase: 'cancelled', message: 'Cancelled.' });
      else this.set({ phase: 'failed', message: errorText(e) });
    }
  }

  private get settings(): GenerationSettings {
    return this.repeat?.settings ?? this.req.settings;
  }

  private onProgress(p: Readonly<JobProgress>): void {
    if (this.lifecycle.cancelled && ['done', 'failed', 'cancelled'].includes(this.status.phase)) return;
    this.set({
      phase: RUN_PHASE[p.phase], ...(p.jobId ? { jobId: p.jobId } : {}), position: p.position, step: p.step, total: p.total, etaMs: p.etaMs,
      message: progressText(p, this.sendingText),
    });
  }

  private set(patch: Partial<RunStatus>): void {
    this.status = { ...this.status, ...patch };
    this.cb.status(this.status);
  }

  /** The capture port: the sandbox exports the target, references and controls as PNG. */
  private async capture(jobId: string, caps: Capabilities): Promise<CapturedJob> {
    const { sandbox } = this.deps;
    const { intent, target } = this.req;
    if (intent !== 'generate' && !this.repeat) throw new UserError('The selection is not a generated image.');
    const settings = this.settings;
    if (!settings.prompt.trim()) throw new UserError('Write a prompt first.');
    const exported = await sandbox.exportFor({
      type: 'export', requestId: sandbox.newRequestId(), intent, wantInit: settings.useInit,
      budget: { maxPixels: Math.min(caps.maxPixels, caps.maxInputPixels), maxSide: MAX_IMAGE_SIDE, referenceMaxSide: REFERENCE_MAX_SIDE },
    });
    const seed = this.repeat?.seed ?? chooseSeed(settings, this.deps.random);
    // The chosen checkpoint's family: its defaults where the user set nothing, its adapters/controls,
    // and for SDXL the aspect bucket nearest the target (SD1.5 keeps the ~512² fitting).
    const offer = familyOffer(caps, settings.checkpoint);
    const area = exported.init ? { width: exported.init.width, height: exported.init.height } : { width: target.width, height: target.height };
    const job = buildJob(settingsForFamily(settings, offer), {
      jobId, seed, hasInit: exported.init !== null, area,
      references: exported.references.length, controls: exported.controls.length, preview: caps.features.includes('preview'),
      ...(this.repeat?.variation ? { variation: this.repeat.variation } : {}),
    }, caps);
    if (offer.family === 'sdxl') Object.assign(job, familyGenerationSize(area, offer, TARGET_PIXELS, caps.maxPixels));
    const inputs = inputsOf(exported, caps.maxPayload);
    addRegionMasks(job, inputs, exported);
    this.sendingText = `Sending ${describeInputs(exported)}…`;
    this.set({ seed });
    this.destination = { targetId: exported.target.id, placement: this.placement() };
    return { job, inputs, context: { ...this.destination } };
  }

  private placement(): Placement {
    const { intent, target } = this.req;
    if (intent === 'regenerate') return 'fill';
    if (intent === 'variation') return 'beside';
    return target.canFill ? this.req.placement : 'beside';
  }

  /** The insert port: the sandbox places the PNGs with their records. */
  private async insert(outcome: JobOutcome, job: JobMessage): Promise<{ images: ResultImage[]; nodeIds: string[]; seed: number }> {
    const { sandbox } = this.deps;
    const createdAt = new Date(this.deps.now()).toISOString();
    const variation = this.repeat?.variation;
    const images: ResultImage[] = outcome.images.map((img) => {
      const { width, height } = img.descriptor;
      if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE) throw new UserError(`The daemon returned ${width}×${height}; Figma images stop at ${MAX_IMAGE_SIDE} px a side.`);
      const record = createRecord({ settings: this.settings, meta: outcome.result.metadata, jobId: job.jobId, index: img.descriptor.index, createdAt, ...(variation ? { variation } : {}) });
      // slice(): the payload is a view into the whole frame; posting a view would copy the header too.
      return { bytes: img.data.slice(), width, height, record };
    });
    const nodeIds = await sandbox.insert({ type: 'insert', requestId: sandbox.newRequestId(), ...this.destination, images });
    return { images, nodeIds, seed: job.seed ?? 0 };
  }
}

export function inputsOf(exported: Exported, maxPayload: number): JobInputs {
  const inputs: JobInputs = {
    ...(exported.init ? { init: payload(exported.init) } : {}),
    references: exported.references.map(payload),
    controls: exported.controls.map(payload),
  };
  for (const img of [inputs.init, ...(inputs.references ?? []), ...(inputs.controls ?? [])]) {
    if (img && img.data.length + 1024 > maxPayload) throw new UserError(`An exported image is ${mb(img.data.length)}, over the daemon's message limit of ${mb(maxPayload)}.`);
  }
  return inputs;
}

/**
 * Regional image prompts: a reference with a region node gets `mask` and a raw grey frame of the region's
 * shape, at the init's exported size (the daemon cuts it like the init) or the generation size.
 */
export function addRegionMasks(job: JobMessage, inputs: JobInputs, exported: Pick<Exported, 'init' | 'regions'>): void {
  const regions = exported.regions ?? [];
  if (!job.references || !regions.some((r) => r)) return;
  const size = referenceMaskSize(exported.init !== null, exported.init ?? { width: 0, height: 0 }, { width: job.width ?? 0, height: job.height ?? 0 });
  inputs.referenceMasks = job.references.map((ref, i) => {
    const region = regions[i];
    if (!region) return undefined;
    const m = shapeMask(region, size);
    if (!selectsSomething(m)) throw new UserError(`The region "${region.name}" does not lie on the target: move it over the part of the frame where its style should act.`);
    ref.mask = { source: 'frame' };
    return { format: 'raw-gray8', width: m.width, height: m.height, data: m.data, hash: sha256Hex(m.data) };
  });
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
