/**
 * The record both plugins keep on every generated layer or node: enough to regenerate it (same settings,
 * seed and variation) or to vary it after the document was closed and reopened. `params`, `references`,
 * `controls` and `models` are the daemon's own account of what it ran. Also what "regenerate" and
 * "variation" mean, the same in both plugins. Pure.
 */
import type { ResultMetadata } from '../protocol/messages.ts';
import { randomSeed } from './job.ts';
import type { Rect, RegionMode, Size } from './region.ts';
import { isRecord, parseSettings, type GenerationSettings } from './settings.ts';

export const RECORD_VERSION = 2;
export const RECORD_APP = 'ipa-bridge';

/** A second noise mixed into the seed's: a variation close to the image, reproducible by both seeds. */
export interface SeedVariation {
  seed: number;
  strength: number;
}

/** How far a variation moves from its image. */
export const VARIATION_STRENGTH = 0.25;

/** Where in a layered document the result went (Photoshop; Figma keeps its source link on the node). */
export interface RecordTarget {
  mode: RegionMode;
  /** Document area the layer covers. */
  region: Rect;
  read: Size;
  /** The layer it was inserted above. */
  sourceLayerId: number | null;
  documentTitle: string;
}

export interface GenerationRecord {
  v: typeof RECORD_VERSION;
  app: typeof RECORD_APP;
  /** The settings as used, with `seed` fixed to this image's seed. */
  settings: GenerationSettings;
  seed: number;
  /** Index of this image in its batch (its seed is the job's seed + index). */
  index: number;
  jobId: string;
  variation?: SeedVariation;
  target?: RecordTarget;
  params: ResultMetadata['params'];
  references: ResultMetadata['references'];
  controls: ResultMetadata['controls'];
  models: ResultMetadata['models'];
  /** The checkpoint's family as the daemon read it (SD1.5, SDXL); absent in records of older daemons. */
  family?: 'sd15' | 'sdxl';
  engine: string;
  createdAt: string;
}

export interface RecordInput {
  settings: GenerationSettings;
  meta: ResultMetadata;
  jobId: string;
  /** Index in the batch; 0 for a single image. */
  index?: number;
  createdAt: string;
  variation?: SeedVariation;
  target?: RecordTarget;
}

export function createRecord(o: RecordInput): GenerationRecord {
  const index = o.index ?? 0;
  const seed = (o.meta.params.seed + index) >>> 0;
  return {
    v: RECORD_VERSION,
    app: RECORD_APP,
    settings: { ...o.settings, seed, lastSeed: seed },
    seed,
    index,
    jobId: o.jobId,
    ...(o.variation ? { variation: o.variation } : {}),
    ...(o.target ? { target: o.target } : {}),
    params: o.meta.params,
    references: o.meta.references,
    controls: o.meta.controls,
    models: o.meta.models,
    ...(o.meta.family ? { family: o.meta.family } : {}),
    engine: o.meta.engine,
    createdAt: o.createdAt,
  };
}

function rect(v: unknown): Rect | null {
  if (!isRecord(v)) return null;
  const { x, y, width, height } = v;
  return [x, y, width, height].every((n) => typeof n === 'number' && Number.isFinite(n)) && (width as number) > 0 && (height as number) > 0
    ? { x: x as number, y: y as number, width: width as number, height: height as number } : null;
}

function parseTarget(t: unknown): RecordTarget | undefined {
  if (!isRecord(t)) return undefined;
  const region = rect(t.region);
  if (!region) return undefined;
  const read = isRecord(t.read) && typeof t.read.width === 'number' && typeof t.read.height === 'number'
    ? { width: t.read.width, height: t.read.height } : { width: region.width, height: region.height };
  return {
    mode: t.mode === 'inpaint' || t.mode === 'img2img' ? t.mode : 'canvas',
    region,
    read,
    sourceLayerId: typeof t.sourceLayerId === 'number' ? t.sourceLayerId : null,
    documentTitle: typeof t.documentTitle === 'string' ? t.documentTitle : '',
  };
}

function parseVariation(v: unknown): SeedVariation | undefined {
  return isRecord(v) && typeof v.seed === 'number' && typeof v.strength === 'number' ? { seed: v.seed >>> 0, strength: v.strength } : undefined;
}

/**
 * Records written before the two plugins shared one format: Photoshop's (`app: 'ipa-bridge/photoshop'`,
 * a target) and Figma's (no app; its hash lists are not read). Both carry v 1; their layers still regenerate.
 */
function isKnownVersion(raw: Record<string, unknown>): boolean {
  if (raw.v === RECORD_VERSION) return raw.app === RECORD_APP;
  return raw.v === 1 && (raw.app === undefined || raw.app === 'ipa-bridge/photoshop');
}

/** A record read back from a layer or node (JSON parsed), or null if it is not ours or is damaged. */
export function parseRecord(raw: unknown): GenerationRecord | null {
  if (!isRecord(raw) || !isKnownVersion(raw)) return null;
  if (typeof raw.seed !== 'number' || typeof raw.jobId !== 'string' || !isRecord(raw.params)) return null;
  const legacyPs = raw.v === 1 && raw.app !== undefined;
  const target = parseTarget(raw.target);
  if (legacyPs && !target) return null;
  const variation = parseVariation(raw.variation);
  return {
    v: RECORD_VERSION,
    app: RECORD_APP,
    settings: parseSettings(raw.settings),
    seed: raw.seed >>> 0,
    index: typeof raw.index === 'number' ? raw.index : 0,
    jobId: raw.jobId,
    ...(variation ? { variation } : {}),
    ...(target ? { target } : {}),
    params: raw.params as unknown as ResultMetadata['params'],
    references: Array.isArray(raw.references) ? raw.references as ResultMetadata['references'] : [],
    controls: Array.isArray(raw.controls) ? raw.controls as ResultMetadata['controls'] : [],
    models: isRecord(raw.models) ? raw.models as ResultMetadata['models'] : {},
    ...(raw.family === 'sd15' || raw.family === 'sdxl' ? { family: raw.family } : {}),
    engine: typeof raw.engine === 'string' ? raw.engine : '',
    createdAt: typeof raw.createdAt === 'string' ? raw.createdAt : '',
  };
}

export type RepeatKind = 'regenerate' | 'variation';

export interface Repeat {
  settings: GenerationSettings;
  seed: number;
  variation?: SeedVariation;
}

/**
 * Running a recorded generation again, one image, with the settings it was made with:
 * - regenerate: the same seed and the same variation, so the same pixels;
 * - variation: the same seed with a new variation seed mixed in at VARIATION_STRENGTH, so an image close
 *   to the recorded one rather than an unrelated one.
 */
export function repeatFromRecord(rec: GenerationRecord, kind: RepeatKind, random: () => number): Repeat {
  const mode = rec.target?.mode ?? rec.settings.mode;
  const settings: GenerationSettings = { ...rec.settings, seed: rec.seed, variations: 1, mode, useInit: mode !== 'canvas' };
  if (kind === 'regenerate') return { settings, seed: rec.seed, ...(rec.variation ? { variation: rec.variation } : {}) };
  return { settings, seed: rec.seed, variation: { seed: randomSeed(random), strength: VARIATION_STRENGTH } };
}
