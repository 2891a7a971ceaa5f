/**
 * The Photoshop panel's settings: the shared generation settings (settings.ts) plus what only a layered
 * document has — mode (canvas / selection fill / img2img), style reference from a layer or a file,
 * control layer with its step range, generation size, context padding. Saved on every change and read
 * back through `parsePsSettings`, which keeps each valid field and defaults the rest (an older or
 * damaged record never loses the others). Pure.
 */
import { SEED_MAX } from '../protocol/limits.ts';
import type { RegionMode } from './region.ts';
import { DEFAULT_SETTINGS, parseSettings, type GenerationSettings } from './settings.ts';

export const PS_SETTINGS_VERSION = 1;

export type ReferenceSource = 'none' | 'layer' | 'file';
export type SampleFrom = 'merged' | 'layer';

/** Generation sizes the panel offers (target area; the aspect ratio follows the region). */
export const SIZE_CHOICES: ReadonlyArray<{ pixels: number; label: string }> = [
  { pixels: 512 * 512, label: '512² (SD 1.5)' },
  { pixels: 640 * 640, label: '640²' },
  { pixels: 768 * 768, label: '768²' },
  { pixels: 1024 * 1024, label: '1024²' },
];

export interface PsExtras {
  psv: typeof PS_SETTINGS_VERSION;
  mode: RegionMode;
  /** Target generation area in pixels (one of SIZE_CHOICES, clamped to the daemon's budget). */
  size: number;
  /** Context around a selection for selection fill, px; -1 = automatic (20% of its larger side). */
  padding: number;
  /** Init pixels from all visible layers, or from the source layer alone. */
  sample: SampleFrom;
  /** The seed of the last generation: "lock" keeps it. */
  lastSeed: number;
  /** Stream small previews while generating. */
  preview: boolean;
  reference: { source: ReferenceSource; layerId: number | null; layerName: string; fileName: string };
  control: { layerId: number | null; layerName: string; start: number; end: number };
}

export type PsSettings = GenerationSettings & PsExtras;

export const DEFAULT_PS_SETTINGS: PsSettings = {
  ...DEFAULT_SETTINGS,
  negativePrompt: 'blurry, low quality, watermark, text',
  useInit: false,
  psv: PS_SETTINGS_VERSION,
  mode: 'canvas',
  size: 512 * 512,
  padding: -1,
  sample: 'merged',
  lastSeed: 0,
  preview: true,
  reference: { source: 'none', layerId: null, layerName: '', fileName: '' },
  control: { layerId: null, layerName: '', start: 0, end: 1 },
};

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown, min: number, max: number, d: number, int = false): number =>
  typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? (int ? Math.round(v) : v) : d;
const str = (v: unknown, max: number, d: string): string => (typeof v === 'string' && v.length <= max ? v : d);
const pick = <T extends string>(v: unknown, allowed: readonly T[], d: T): T => (typeof v === 'string' && (allowed as readonly string[]).includes(v) ? (v as T) : d);
const layerId = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : null);

export function parsePsSettings(raw: unknown): PsSettings {
  const r: Rec = isRec(raw) ? raw : {};
  const d = DEFAULT_PS_SETTINGS;
  const base = parseSettings(raw);
  const ref: Rec = isRec(r.reference) ? r.reference : {};
  const ctl: Rec = isRec(r.control) ? r.control : {};
  const mode = pick<RegionMode>(r.mode, ['canvas', 'inpaint', 'img2img'], d.mode);
  let start = num(ctl.start, 0, 1, d.control.start);
  let end = num(ctl.end, 0, 1, d.control.end);
  if (start >= end) [start, end] = [d.control.start, d.control.end];
  return {
    ...base,
    // Only negativePrompt and useInit differ from the shared defaults; a missing field takes ours.
    negativePrompt: typeof r.negativePrompt === 'string' ? base.negativePrompt : d.negativePrompt,
    useInit: mode !== 'canvas',
    psv: PS_SETTINGS_VERSION,
    mode,
    size: num(r.size, 64 * 64, 4096 * 4096, d.size, true),
    padding: num(r.padding, -1, 2048, d.padding, true),
    sample: pick<SampleFrom>(r.sample, ['merged', 'layer'], d.sample),
    lastSeed: num(r.lastSeed, 0, SEED_MAX, d.lastSeed, true),
    preview: typeof r.preview === 'boolean' ? r.preview : d.preview,
    reference: {
      source: pick<ReferenceSource>(ref.source, ['none', 'layer', 'file'], d.reference.source),
      layerId: layerId(ref.layerId),
      layerName: str(ref.layerName, 256, ''),
      fileName: str(ref.fileName, 256, ''),
    },
    control: { layerId: layerId(ctl.layerId), layerName: str(ctl.layerName, 256, ''), start, end },
  };
}

/** Lock on: `seed` is fixed (to the last seed unless typed); off: null = a new random seed each time. */
export function withSeedLock(s: PsSettings, locked: boolean): PsSettings {
  return { ...s, seed: locked ? (s.seed ?? s.lastSeed) : null };
}
