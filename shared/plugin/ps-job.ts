/**
 * Photoshop jobs: from the panel settings and the pixels read from the document to a protocol job and
 * its binary inputs; the generated layer's name; and the record kept with the layer so "regenerate" and
 * "variation" work after the document is closed and reopened. Pure: no sockets, no host APIs.
 */
import type { ImagePayload, JobInputs } from '../protocol/client.ts';
import { SEED_MAX } from '../protocol/limits.ts';
import { ADAPTER_KINDS, type AdapterKind, type Capabilities, type JobMessage, type ResultMetadata } from '../protocol/messages.ts';
import { sha256Hex } from '../protocol/sha256.ts';
import { randomSeed } from './job.ts';
import { parsePsSettings, type PsSettings } from './ps-settings.ts';
import type { Gray8, Rgba8 } from './raster.ts';
import type { Rect, RegionMode, Size, SizePlan } from './region.ts';

/** What was read from the document for one job (all images at `plan.read` size except the reference). */
export interface PsCapture {
  plan: SizePlan;
  init?: Rgba8;
  mask?: Gray8;
  /** Reference pixels (a layer) or encoded bytes (an image file). */
  reference?: { image: Rgba8 } | { encoded: Uint8Array; format: 'png' | 'jpeg' };
  control?: Rgba8;
}

export interface JobOptions {
  jobId: string;
  seed: number;
  /** "Variation": same seed, a second noise mixed in. */
  variation?: { seed: number; strength: number };
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
export function buildPsJob(s: PsSettings, cap: PsCapture, o: JobOptions): BuiltJob {
  const job: JobMessage = {
    type: 'job',
    jobId: o.jobId,
    prompt: s.prompt,
    negativePrompt: s.negativePrompt,
    seed: o.seed >>> 0,
    steps: s.steps,
    sampler: s.sampler,
    guidance: s.guidance,
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
    job.references = [{ source: 'frame', adapter, scale: s.referenceScale, preset: s.preset }];
    inputs.references = ['image' in cap.reference
      ? rgbaPayload(cap.reference.image)
      : { format: cap.reference.format, width: 0, height: 0, data: cap.reference.encoded, hash: sha256Hex(cap.reference.encoded) }];
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

// ---------------------------------------------------------------- names

const NAME_PREFIX = '[IPA]';

/** `[IPA] <seed> <prompt…>`: the seed first so it survives Photoshop truncating long names. */
export function psLayerName(seed: number, prompt: string, max = 64): string {
  const p = prompt.trim().replace(/\s+/g, ' ');
  const head = `${NAME_PREFIX} ${seed >>> 0}`;
  if (!p) return head;
  const room = max - head.length - 1;
  return `${head} ${p.length > room ? `${p.slice(0, Math.max(1, room - 1)).trimEnd()}…` : p}`;
}

export function parsePsLayerName(name: string): { seed: number; prompt: string } | null {
  const m = /^\[IPA\] (\d{1,10})(?: (.*))?$/.exec(name);
  if (!m) return null;
  const seed = Number(m[1]);
  return seed <= SEED_MAX ? { seed, prompt: (m[2] ?? '').replace(/…$/, '') } : null;
}

export function isGeneratedLayerName(name: string): boolean {
  return name.startsWith(`${NAME_PREFIX} `) || name === NAME_PREFIX;
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

// ---------------------------------------------------------------- the record kept with a layer

export const PS_RECORD_VERSION = 1;

export interface PsTarget {
  mode: RegionMode;
  /** Document area the layer covers. */
  region: Rect;
  read: Size;
  /** The layer it was inserted above. */
  sourceLayerId: number | null;
  documentTitle: string;
}

export interface PsRecord {
  v: typeof PS_RECORD_VERSION;
  app: 'ipa-bridge/photoshop';
  /** The panel settings as used, with `seed` fixed to this image's seed. */
  settings: PsSettings;
  seed: number;
  jobId: string;
  variation?: { seed: number; strength: number };
  target: PsTarget;
  params: ResultMetadata['params'];
  references: ResultMetadata['references'];
  controls: ResultMetadata['controls'];
  models: ResultMetadata['models'];
  engine: string;
  createdAt: string;
}

export function psRecord(s: PsSettings, meta: ResultMetadata, jobId: string, target: PsTarget, createdAt: string, variation?: { seed: number; strength: number }): PsRecord {
  const seed = meta.params.seed >>> 0;
  return {
    v: PS_RECORD_VERSION,
    app: 'ipa-bridge/photoshop',
    settings: { ...s, seed, lastSeed: seed },
    seed,
    jobId,
    ...(variation ? { variation } : {}),
    target,
    params: meta.params,
    references: meta.references,
    controls: meta.controls,
    models: meta.models,
    engine: meta.engine,
    createdAt,
  };
}

const isRec = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function rect(v: unknown): Rect | null {
  if (!isRec(v)) return null;
  const { x, y, width, height } = v;
  return [x, y, width, height].every((n) => typeof n === 'number' && Number.isFinite(n)) && (width as number) > 0 && (height as number) > 0
    ? { x: x as number, y: y as number, width: width as number, height: height as number } : null;
}

/** A record read back from a layer (JSON parsed), or null if it is not ours or is damaged. */
export function parsePsRecord(raw: unknown): PsRecord | null {
  if (!isRec(raw) || raw.v !== PS_RECORD_VERSION || raw.app !== 'ipa-bridge/photoshop') return null;
  if (typeof raw.seed !== 'number' || typeof raw.jobId !== 'string' || !isRec(raw.params) || !isRec(raw.target)) return null;
  const t = raw.target;
  const region = rect(t.region);
  if (!region) return null;
  const read = isRec(t.read) && typeof t.read.width === 'number' && typeof t.read.height === 'number' ? { width: t.read.width, height: t.read.height } : { width: region.width, height: region.height };
  const v = isRec(raw.variation) && typeof raw.variation.seed === 'number' && typeof raw.variation.strength === 'number'
    ? { seed: raw.variation.seed, strength: raw.variation.strength } : undefined;
  return {
    v: PS_RECORD_VERSION,
    app: 'ipa-bridge/photoshop',
    settings: parsePsSettings(raw.settings),
    seed: raw.seed >>> 0,
    jobId: raw.jobId,
    ...(v ? { variation: v } : {}),
    target: {
      mode: t.mode === 'inpaint' || t.mode === 'img2img' ? t.mode : 'canvas',
      region,
      read,
      sourceLayerId: typeof t.sourceLayerId === 'number' ? t.sourceLayerId : null,
      documentTitle: typeof t.documentTitle === 'string' ? t.documentTitle : '',
    },
    params: raw.params as unknown as ResultMetadata['params'],
    references: Array.isArray(raw.references) ? raw.references as ResultMetadata['references'] : [],
    controls: Array.isArray(raw.controls) ? raw.controls as ResultMetadata['controls'] : [],
    models: isRec(raw.models) ? raw.models as ResultMetadata['models'] : {},
    engine: typeof raw.engine === 'string' ? raw.engine : '',
    createdAt: typeof raw.createdAt === 'string' ? raw.createdAt : '',
  };
}

export type RepeatKind = 'regenerate' | 'variation';

/** Settings and options to run a recorded generation again: same seed, or same seed plus a variation. */
export function repeatFromRecord(rec: PsRecord, kind: RepeatKind, random: () => number, variationStrength = 0.25): { settings: PsSettings; seed: number; variation?: { seed: number; strength: number } } {
  const settings: PsSettings = { ...rec.settings, seed: rec.seed, mode: rec.target.mode, useInit: rec.target.mode !== 'canvas' };
  if (kind === 'regenerate') return { settings, seed: rec.seed, ...(rec.variation ? { variation: rec.variation } : {}) };
  return { settings, seed: rec.seed, variation: { seed: randomSeed(random), strength: variationStrength } };
}
