/**
 * Model families (SD1.5, SDXL) in the plugins: one rule both panels use to say which family the chosen
 * checkpoint belongs to, what its installed models allow (checkpoints, adapter kinds, control types),
 * which steps / CFG / sampler it runs with when the user has not set them, and at what size it
 * generates (SDXL: the aspect bucket nearest the area; SD1.5: the ~512² pixel budget as before).
 * Everything comes from the handshake's `capabilities.families`; an older daemon without it is SD1.5
 * with the top-level `adapters` / `controls`. Pure, no host APIs.
 */
import { GUIDANCE, STEPS } from '../protocol/limits.ts';
import type { AdapterKind, Capabilities, ControlType, FamilyCapabilities, SamplerName } from '../protocol/messages.ts';
import { generationSize, type Size } from './budget.ts';
import type { Rect, SizePlan } from './region.ts';
import { DEFAULT_SETTINGS, type GenerationSettings } from './settings.ts';

export type ModelFamily = 'sd15' | 'sdxl';
export const FAMILY_LABELS: Readonly<Record<ModelFamily, string>> = { sd15: 'SD 1.5', sdxl: 'SDXL' };

export type FamilyDefaults = FamilyCapabilities['defaults'];

/** SD1.5's defaults where the daemon does not send them (the plugins' own defaults before families). */
export const SD15_DEFAULTS: FamilyDefaults = { width: 512, height: 512, steps: STEPS.default, guidance: GUIDANCE.default, sampler: 'dpmpp-2m-karras' };

type FamilyCaps = Pick<Capabilities, 'adapters' | 'controls' | 'models'> & Partial<Pick<Capabilities, 'families'>>;

/** What one family offers with the installed models. */
export interface FamilyOffer {
  family: ModelFamily;
  /** "SD 1.5", "SDXL". */
  label: string;
  /** The checkpoint the job runs ('' = the daemon's default, which is `checkpoint`'s family's first). */
  checkpoint: string;
  checkpoints: string[];
  adapters: AdapterKind[];
  controls: ControlType[];
  defaults: FamilyDefaults;
}

/**
 * The family of `checkpoint` ('' = the daemon's default: the model it marks `default`, else SD1.5 when
 * one is installed, else SDXL). A name the daemon does not list is judged by the model list's `base`,
 * else SD1.5 (the daemon will answer `model-missing` for it anyway).
 */
export function checkpointFamily(caps: FamilyCaps, checkpoint: string): ModelFamily {
  const fam = caps.families ?? {};
  if (!checkpoint) {
    // Newer daemons mark their default checkpoint; else their registry's rule (SD1.5 when installed).
    const d = caps.models.find((m) => m.default && m.kind.startsWith('checkpoint'));
    if (d) return d.base === 'sdxl' || d.kind.includes('sdxl') ? 'sdxl' : 'sd15';
    return fam.sd15 || !fam.sdxl ? 'sd15' : 'sdxl';
  }
  if (fam.sdxl?.checkpoints.includes(checkpoint)) return 'sdxl';
  if (fam.sd15?.checkpoints.includes(checkpoint)) return 'sd15';
  const m = caps.models.find((x) => x.name === checkpoint);
  return m?.base === 'sdxl' || m?.kind.includes('sdxl') ? 'sdxl' : 'sd15';
}

/** The offer for the chosen checkpoint: its family's models and defaults. */
export function familyOffer(caps: FamilyCaps, checkpoint: string): FamilyOffer {
  const family = checkpointFamily(caps, checkpoint);
  const f = caps.families?.[family];
  if (!f) {
    // An older daemon (no `families`), or a family with no checkpoint: the top-level lists are SD1.5's.
    const sd15 = family === 'sd15';
    return {
      family, label: FAMILY_LABELS[family], checkpoint, checkpoints: [],
      adapters: sd15 ? [...caps.adapters] : [], controls: sd15 ? [...caps.controls] : [],
      defaults: sd15 ? { ...SD15_DEFAULTS } : { ...SD15_DEFAULTS, width: 1024, height: 1024 },
    };
  }
  return {
    family, label: FAMILY_LABELS[family], checkpoint,
    checkpoints: [...f.checkpoints], adapters: [...f.adapters], controls: [...f.controls],
    defaults: { ...f.defaults, ...(f.defaults.buckets ? { buckets: f.defaults.buckets.map(([w, h]) => [w, h] as [number, number]) } : {}) },
  };
}

/** Every installed checkpoint with its family, for a model picker ("sd_xl_base_1.0 · SDXL"). */
export function checkpointChoices(caps: FamilyCaps): Array<{ name: string; family: ModelFamily; label: string }> {
  const out: Array<{ name: string; family: ModelFamily; label: string }> = [];
  for (const family of ['sd15', 'sdxl'] as const) {
    for (const name of caps.families?.[family]?.checkpoints ?? []) {
      // Inpainting checkpoints are picked by the daemon for a fill; offering them for text to image misleads.
      if (caps.models.find((m) => m.name === name)?.kind.includes("inpaint")) continue;
      out.push({ name, family, label: `${name} · ${FAMILY_LABELS[family]}` });
    }
  }
  return out;
}

/**
 * Steps, CFG and sampler for the job. A speed preset's values or a value the user changed stay as
 * they are; a field still at the plugins' own default (20 steps, CFG 7, DPM++ 2M Karras — what an
 * untouched form holds) counts as "not set" and takes the family's default (SDXL: 30, 5, DPM++ 2M
 * Karras). The settings cannot tell a typed 20 from an untouched 20, so a typed default reads as unset.
 */
export function familyModelSettings(s: Pick<GenerationSettings, 'speed' | 'steps' | 'guidance' | 'sampler'>, offer: FamilyOffer): { steps: number; guidance: number; sampler: SamplerName } {
  // SD1.5 keeps the panels' own defaults (DPM++ 2M Karras, where the daemon's bare default is Euler a):
  // what SD1.5 users got before families existed does not change under them.
  if (s.speed !== 'custom' || offer.family === 'sd15') return { steps: s.steps, guidance: s.guidance, sampler: s.sampler };
  const d = offer.defaults;
  return {
    steps: s.steps === DEFAULT_SETTINGS.steps ? d.steps : s.steps,
    guidance: s.guidance === DEFAULT_SETTINGS.guidance ? d.guidance : s.guidance,
    sampler: s.sampler === DEFAULT_SETTINGS.sampler ? d.sampler : s.sampler,
  };
}

/**
 * The settings a job is built from: the family's steps/CFG/sampler where unset, and an adapter kind
 * or control type the family has no model for replaced by the first one it has (a job on SDXL with an
 * SD1.5-only "plus" would fail with model-missing after the upload).
 */
export function settingsForFamily(s: GenerationSettings, offer: FamilyOffer): GenerationSettings {
  const out: GenerationSettings = { ...s, ...familyModelSettings(s, offer) };
  if (offer.adapters.length && !offer.adapters.includes(s.adapter)) out.adapter = offer.adapters[0];
  if (offer.controls.length && !offer.controls.includes(s.controlType)) out.controlType = offer.controls[0];
  return out;
}

/** The bucket whose aspect ratio is nearest `size`'s (compared on a log scale, so 2:1 and 1:2 are as far from 1:1). */
export function nearestBucket(size: Size, buckets: ReadonlyArray<readonly [number, number]>): Size {
  const want = Math.log(Math.max(size.width, 1) / Math.max(size.height, 1));
  let best = buckets[0];
  let bestD = Infinity;
  for (const b of buckets) {
    const d = Math.abs(Math.log(b[0] / b[1]) - want);
    if (d < bestD - 1e-12) {
      best = b;
      bestD = d;
    }
  }
  return { width: best[0], height: best[1] };
}

/**
 * The generation size for an area: SDXL takes the nearest of its aspect buckets (the sizes it was
 * trained at; off-bucket sizes compose worse), shrunk on the 8-px grid only if the daemon's budget
 * is smaller; SD1.5 keeps fitting the area's aspect into `targetPixels` (the panel's size setting).
 */
export function familyGenerationSize(area: Size, offer: FamilyOffer, targetPixels: number, maxPixels: number): Size {
  const buckets = offer.defaults.buckets;
  if (offer.family !== 'sdxl' || !buckets || buckets.length === 0) return generationSize(area, targetPixels, maxPixels);
  const b = nearestBucket(area, buckets);
  if (b.width * b.height <= maxPixels) return b;
  return generationSize(b, maxPixels, maxPixels);
}

/**
 * region.ts's planSizes with the family's generation size: the area read is the region itself when it
 * is no bigger than the generation, else exactly the generation size (an SDXL bucket's aspect differs
 * from the region's by a few percent; the result is scaled back to the region on insert, as before).
 */
export function familyPlanSizes(region: Rect, offer: FamilyOffer, targetPixels: number, maxPixels: number): SizePlan {
  const generation = familyGenerationSize(region, offer, targetPixels, maxPixels);
  const small = region.width <= generation.width && region.height <= generation.height;
  return { region, generation, read: small ? { width: region.width, height: region.height } : { ...generation } };
}
