/**
 * Job ids, seeds, and the job of a plugin that sends encoded images (Figma's PNG exports): the daemon
 * derives the size from the init. Photoshop's raw-pixel jobs are built in ps-job.ts. Pure.
 */
import { SEED_MAX } from '../protocol/limits.ts';
import type { Capabilities, ControlSpec, JobMessage, ReferenceSpec } from '../protocol/messages.ts';
import { generationSize, type Size } from './budget.ts';
import type { SeedVariation } from './record.ts';
import type { GenerationSettings } from './settings.ts';

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
  /** Regenerate and variation: the recorded or a new variation seed. */
  variation?: SeedVariation;
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

/** The model fields a speed preset (or the user) chose; left out where they are the daemon's defaults. */
export function modelFields(s: GenerationSettings): Pick<JobMessage, 'checkpoint' | 'loras' | 'eta' | 'draftDecode'> {
  return {
    ...(s.checkpoint ? { checkpoint: s.checkpoint } : {}),
    ...(s.loras.length ? { loras: s.loras.map((l) => ({ model: l.model, strength: l.strength })) } : {}),
    ...(s.eta !== null ? { eta: s.eta } : {}),
    ...(s.draftDecode ? { draftDecode: true } : {}),
  };
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
    ...modelFields(settings),
    batchSize: Math.max(1, Math.min(settings.variations, caps.maxBatch)),
    output: { format: 'png', preview: plan.preview },
  };
  if (plan.variation) {
    job.variationSeed = plan.variation.seed >>> 0;
    job.variationStrength = plan.variation.strength;
  }
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
