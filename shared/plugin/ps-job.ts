/**
 * Photoshop jobs: from the panel settings and the pixels read from the document to a protocol job and
 * its binary inputs (raw frames with their hashes). Pure: no sockets, no host APIs.
 */
import type { ImagePayload, JobInputs } from '../protocol/client.ts';
import { ADAPTER_KINDS, type AdapterKind, type Capabilities, type JobMessage } from '../protocol/messages.ts';
import { sha256Hex } from '../protocol/sha256.ts';
import type { Gray8, Rgba8 } from './raster.ts';
import type { SeedVariation } from './record.ts';
import type { SizePlan } from './region.ts';
import { modelFields } from './job.ts';
import type { GenerationSettings } from './settings.ts';

/** What was read from the document for one job (all images at `plan.read` size except the reference). */
export interface PsCapture {
  plan: SizePlan;
  init?: Rgba8;
  mask?: Gray8;
  /** Reference pixels (a layer) or encoded bytes (an image file). */
  reference?: { image: Rgba8 } | { encoded: Uint8Array; format: 'png' | 'jpeg' };
  control?: Rgba8;
  /** Where the reference acts (regional image prompt): at the init's size, or the generation size without one. */
  referenceMask?: Gray8;
  /** More reference layers after the first (same adapter, use and strength), each with its own mask. */
  moreReferences?: Array<{ image: Rgba8; mask?: Gray8 }>;
}

export interface JobOptions {
  jobId: string;
  seed: number;
  /** "Variation": same seed, a second noise mixed in. */
  variation?: SeedVariation;
  /** Adapter kinds the daemon has models for; the setting falls back to the first when missing. */
  adapters?: readonly AdapterKind[];
}

export interface BuiltJob {
  job: JobMessage;
  inputs: JobInputs;
}

export function rgbaPayload(img: Rgba8): ImagePayload {
  return { format: 'raw-rgba8', width: img.width, height: img.height, data: img.data, hash: sha256Hex(img.data) };
}

export function grayPayload(img: Gray8): ImagePayload {
  return { format: 'raw-gray8', width: img.width, height: img.height, data: img.data, hash: sha256Hex(img.data) };
}

/**
 * The job for a capture. The generation size is always explicit (the plan's, on the model's grid and in
 * budget); images go as raw frames with their hashes so unchanged layers are sent by hash next time;
 * results come back raw (no PNG encode on the daemon, no decoder needed in the panel).
 */
export function buildPsJob(s: GenerationSettings, cap: PsCapture, o: JobOptions): BuiltJob {
  const job: JobMessage = {
    type: 'job',
    jobId: o.jobId,
    prompt: s.prompt,
    negativePrompt: s.negativePrompt,
    seed: o.seed >>> 0,
    steps: s.steps,
    sampler: s.sampler,
    guidance: s.guidance,
    ...modelFields(s),
    width: cap.plan.generation.width,
    height: cap.plan.generation.height,
    batchSize: 1,
    output: { format: 'raw-rgba8', preview: s.preview },
  };
  if (o.variation) {
    job.variationSeed = o.variation.seed >>> 0;
    job.variationStrength = o.variation.strength;
  }
  const inputs: JobInputs = {};
  if (cap.init) {
    job.init = { source: 'frame' };
    job.strength = s.strength;
    inputs.init = rgbaPayload(cap.init);
    if (cap.mask) {
      // The selection's own soft edge is in the mask already; the region is cropped here, not by the daemon.
      job.mask = { source: 'frame', feather: 0, crop: false };
      inputs.mask = grayPayload(cap.mask);
    }
  }
  if (cap.reference) {
    const adapter = o.adapters && o.adapters.length && !o.adapters.includes(s.adapter) ? o.adapters[0] : s.adapter;
    job.references = [{ source: 'frame', adapter, scale: s.referenceScale, preset: s.preset, ...(cap.referenceMask ? { mask: { source: 'frame' as const } } : {}) }];
    inputs.references = ['image' in cap.reference
      ? rgbaPayload(cap.reference.image)
      : { format: cap.reference.format, width: 0, height: 0, data: cap.reference.encoded, hash: sha256Hex(cap.reference.encoded) }];
    for (const more of cap.moreReferences ?? []) {
      job.references.push({ source: 'frame', adapter, scale: s.referenceScale, preset: s.preset, ...(more.mask ? { mask: { source: 'frame' as const } } : {}) });
      inputs.references.push(rgbaPayload(more.image));
    }
    // Masks line up with the references; an unmasked one has none.
    const masks = [cap.referenceMask, ...(cap.moreReferences ?? []).map((m) => m.mask)];
    if (masks.some((m) => m)) inputs.referenceMasks = masks.map((m) => (m ? grayPayload(m) : undefined));
  }
  if (cap.control) {
    job.controls = [{
      source: 'frame', type: s.controlType, preprocess: s.controlPreprocess, scale: s.controlScale,
      range: { start: s.control.start, end: s.control.end },
    }];
    inputs.controls = [rgbaPayload(cap.control)];
  }
  return { job, inputs };
}

/** PNG or JPEG by signature (the only encoded formats a frame carries), else null. */
export function sniffImageFormat(b: Uint8Array): 'png' | 'jpeg' | null {
  if (b.length > 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'png';
  if (b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  return null;
}

// ---------------------------------------------------------------- capabilities

/**
 * Adapter kinds the daemon has a model for. The handshake's `adapters` lists what the engine supports;
 * the model list says what is installed (`ipadapter:plus`, or a bare `ip-adapter` = base).
 */
export function installedAdapters(caps: Pick<Capabilities, 'adapters'>): AdapterKind[] {
  // The daemon lists only the adapter kinds whose models are installed.
  return ADAPTER_KINDS.filter((a) => caps.adapters.includes(a));
}
