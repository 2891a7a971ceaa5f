/**
 * From the settings form and the images a host exported to a protocol job, and from a result back to
 * the record a plugin stores on the generated layer/node so it can be regenerated or varied later.
 * Pure: no sockets, no host APIs.
 */
import { SEED_MAX } from '../protocol/limits.ts';
import type { Capabilities, ControlSpec, JobMessage, ReferenceSpec, ResultMetadata } from '../protocol/messages.ts';
import { generationSize, type Size } from './budget.ts';
import { parseSettings, type GenerationSettings } from './settings.ts';

/** SD1.5's native area: text-only generations aim for about this many pixels (as the daemon does). */
export const TARGET_PIXELS = 512 * 512;

export interface JobPlan {
  jobId: string;
  /** The first image's seed; image i of the batch uses seed + i. */
  seed: number;
  /** Whether an init image goes with the job (settings.useInit and the host had pixels to send). */
  hasInit: boolean;
  /** Size of the target area in the host's units: for a text-only job's aspect ratio. */
  area: Size;
  references: number;
  controls: number;
  preview: boolean;
}

export function randomSeed(random: () => number): number {
  return Math.floor(random() * (SEED_MAX + 1)) >>> 0;
}

/** 1–64 chars of [A-Za-z0-9._:-]; unique enough across a daemon's live and retained jobs. */
export function newJobId(prefix: string, now: number, random: () => number): string {
  const rand = Math.floor(random() * 36 ** 6).toString(36).padStart(6, '0');
  return `${prefix.replace(/[^A-Za-z0-9._:-]/g, '').slice(0, 24) || 'job'}-${now.toString(36)}-${rand}`;
}

/** The seed a generation uses: the fixed one from the settings, else a fresh random one. */
export function chooseSeed(settings: GenerationSettings, random: () => number): number {
  return settings.seed ?? randomSeed(random);
}

export function buildJob(settings: GenerationSettings, plan: JobPlan, caps: Pick<Capabilities, 'maxPixels' | 'maxBatch'>): JobMessage {
  const job: JobMessage = {
    type: 'job',
    jobId: plan.jobId,
    prompt: settings.prompt,
    negativePrompt: settings.negativePrompt,
    seed: plan.seed,
    steps: settings.steps,
    sampler: settings.sampler,
    guidance: settings.guidance,
    batchSize: Math.max(1, Math.min(settings.variations, caps.maxBatch)),
    output: { format: 'png', preview: plan.preview },
  };
  if (plan.hasInit) {
    // The daemon derives the generation size from the init and returns the result at the init's size.
    job.init = { source: 'frame' };
    job.strength = settings.strength;
  } else {
    const g = generationSize(plan.area, TARGET_PIXELS, caps.maxPixels);
    job.width = g.width;
    job.height = g.height;
  }
  if (plan.references > 0) {
    job.references = Array.from({ length: plan.references }, (): ReferenceSpec => ({
      source: 'frame', adapter: settings.adapter, scale: settings.referenceScale, preset: settings.preset,
    }));
  }
  if (plan.controls > 0) {
    job.controls = Array.from({ length: plan.controls }, (): ControlSpec => ({
      source: 'frame', type: settings.controlType, preprocess: settings.controlPreprocess, scale: settings.controlScale,
    }));
  }
  return job;
}

export const RECORD_VERSION = 1;

/**
 * Kept on every generated layer/node: enough to regenerate it (same settings and seed) or to vary it.
 * `params` and `models` are the daemon's own account of what it ran.
 */
export interface GenerationRecord {
  v: typeof RECORD_VERSION;
  /** The form as used, with `seed` fixed to this image's seed. */
  settings: GenerationSettings;
  seed: number;
  /** Index of this image in its batch. */
  index: number;
  jobId: string;
  params: ResultMetadata['params'];
  models: ResultMetadata['models'];
  referenceHashes: Array<string | null>;
  controlHashes: Array<string | null>;
  engine: string;
  createdAt: string;
}

export function generationRecord(settings: GenerationSettings, meta: ResultMetadata, jobId: string, index: number, createdAt: string): GenerationRecord {
  const seed = (meta.params.seed + index) >>> 0;
  return {
    v: RECORD_VERSION,
    settings: { ...settings, seed },
    seed,
    index,
    jobId,
    params: meta.params,
    models: meta.models,
    referenceHashes: meta.references.map((r) => r.hash),
    controlHashes: meta.controls.map((c) => c.hash),
    engine: meta.engine,
    createdAt,
  };
}

/** A record read back from storage, or null when it is not one (missing, foreign, corrupted). */
export function parseRecord(raw: unknown): GenerationRecord | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as Partial<GenerationRecord>;
  if (r.v !== RECORD_VERSION || typeof r.seed !== 'number' || typeof r.jobId !== 'string' || typeof r.params !== 'object' || r.params === null) return null;
  return {
    v: RECORD_VERSION,
    settings: parseSettings(r.settings),
    seed: r.seed >>> 0,
    index: typeof r.index === 'number' ? r.index : 0,
    jobId: r.jobId,
    params: r.params,
    models: typeof r.models === 'object' && r.models !== null ? r.models : {},
    referenceHashes: Array.isArray(r.referenceHashes) ? r.referenceHashes : [],
    controlHashes: Array.isArray(r.controlHashes) ? r.controlHashes : [],
    engine: typeof r.engine === 'string' ? r.engine : '',
    createdAt: typeof r.createdAt === 'string' ? r.createdAt : '',
  };
}

/** Settings for "regenerate" (same seed) or "variation" (a new seed, one image). */
export function settingsFor(record: GenerationRecord, kind: 'regenerate' | 'variation', random: () => number): GenerationSettings {
  return { ...record.settings, seed: kind === 'regenerate' ? record.seed : randomSeed(random), variations: 1 };
}

/** A short layer/node name: the prompt's start and the seed ("ipa · red sneaker on… · seed 42"). */
export function resultName(prompt: string, seed: number, maxPrompt = 32): string {
  const p = prompt.trim().replace(/\s+/g, ' ');
  const short = p.length > maxPrompt ? `${p.slice(0, maxPrompt - 1)}…` : p;
  return short ? `ipa · ${short} · seed ${seed}` : `ipa · seed ${seed}`;
}
