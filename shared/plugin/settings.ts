/**
 * The one settings model both plugins keep: the generation form, plus the fields only a layered document
 * uses (mode, size, context padding, reference and control layers), and the connection (port and pairing
 * token). Stored as JSON by the host (Figma clientStorage, UXP localStorage); read back through
 * `parseSettings`, which keeps every valid field and takes the plugin's default for the rest, so an
 * older or hand-edited record never breaks a panel. Pure.
 */
import { DEFAULT_PORT } from '../protocol/constants.ts';
import { CONTROL_SCALE, GUIDANCE, LORA_STRENGTH, MAX_LORAS, MAX_NAME_LENGTH, MAX_PROMPT_LENGTH, REFERENCE_SCALE, SEED_MAX, STEPS, STRENGTH } from '../protocol/limits.ts';
import {
  ADAPTER_KINDS, BLOCK_PRESETS, CONTROL_PREPROCESS, CONTROL_TYPES, SAMPLERS,
  type AdapterKind, type BlockPreset, type ControlPreprocess, type ControlType, type LoraSpec, type SamplerName,
} from '../protocol/messages.ts';
import type { RegionMode } from './region.ts';
import { SPEED_PRESETS, type PresetRecipe, type SpeedPreset } from './speed-presets.ts';

export const SETTINGS_VERSION = 1;
export const MAX_VARIATIONS = 8;

export type ReferenceSource = 'none' | 'layer' | 'file';
export type SampleFrom = 'merged' | 'layer';

/** Generation sizes a panel offers (target area; the aspect ratio follows the region). */
export const SIZE_CHOICES: ReadonlyArray<{ pixels: number; label: string }> = [
  { pixels: 512 * 512, label: '512² (SD 1.5)' },
  { pixels: 640 * 640, label: '640²' },
  { pixels: 768 * 768, label: '768²' },
  { pixels: 1024 * 1024, label: '1024²' },
];

export interface GenerationSettings {
  v: typeof SETTINGS_VERSION;
  prompt: string;
  negativePrompt: string;
  steps: number;
  guidance: number;
  sampler: SamplerName;
  /** A fixed seed, or null for a new random one per generation. */
  seed: number | null;
  /** The seed of the last generation: a seed lock keeps it. */
  lastSeed: number;
  /** Images per generation (one job, batch of seeds seed, seed+1, …). */
  variations: number;
  /** What the target's pixels are for: nothing (text only), img2img, or a masked fill of the selection. */
  mode: RegionMode;
  /** Start from the target's pixels: `mode !== 'canvas'`, kept as a field for forms with a checkbox. */
  useInit: boolean;
  /** img2img denoising strength: 0 keeps the input, 1 ignores it. */
  strength: number;
  adapter: AdapterKind;
  referenceScale: number;
  preset: BlockPreset;
  controlType: ControlType;
  controlPreprocess: ControlPreprocess;
  controlScale: number;
  /** Stream small previews while generating. */
  preview: boolean;
  /** Target generation area in pixels (one of SIZE_CHOICES, clamped to the daemon's budget). */
  size: number;
  /** Context around a selection for a selection fill, px; -1 = automatic (20% of its larger side). */
  padding: number;
  /** Init pixels from all visible layers, or from the source layer alone. */
  sample: SampleFrom;
  /**
   * `mask`: a regional image prompt — the reference acts only where the reference layer's own layer mask
   * is white; `maskChannel`: only where that saved selection (alpha channel) selects, for a layer or a
   * file (Photoshop; Figma marks region nodes instead). Absent = everywhere.
   */
  reference: { source: ReferenceSource; layerId: number | null; layerName: string; fileName: string; mask?: boolean; maskChannel?: string };
  /**
   * A second reference layer (Photoshop), with the first one's adapter, use and strength: with layer masks,
   * two references in two regions (a painting on the left, a photo on the right). Absent = none.
   */
  reference2?: { layerId: number; layerName: string; mask?: boolean };
  control: { layerId: number | null; layerName: string; start: number; end: number };
  /** The speed preset the model fields came from; 'custom' once steps, sampler or CFG are changed by hand. */
  speed: SpeedPreset | 'custom';
  /** Checkpoint file name; '' = the daemon's default. */
  checkpoint: string;
  loras: LoraSpec[];
  /** TCD's gamma / DDIM's eta; null = the sampler's default. */
  eta: number | null;
  /** Decode the final image with TAESD (fast, softer). */
  draftDecode: boolean;
  /** Live mode's img2img strength (its own: a live edit wants less change than a one-off img2img). */
  liveStrength: number;
  /** Live mode also writes each result into a live layer (Photoshop) / live fill (Figma). */
  liveLayer: boolean;
}

/** The defaults of a plugin that starts from its target's pixels (Figma). */
export const DEFAULT_SETTINGS: GenerationSettings = {
  v: SETTINGS_VERSION,
  prompt: '',
  negativePrompt: 'blurry, low quality, watermark, text',
  steps: STEPS.default,
  guidance: GUIDANCE.default,
  sampler: 'dpmpp-2m-karras',
  seed: null,
  lastSeed: 0,
  variations: 1,
  mode: 'img2img',
  useInit: true,
  strength: STRENGTH.default,
  adapter: 'base',
  referenceScale: REFERENCE_SCALE.default,
  preset: 'reference',
  controlType: 'pose',
  controlPreprocess: 'none',
  controlScale: CONTROL_SCALE.default,
  preview: true,
  size: 512 * 512,
  padding: -1,
  sample: 'merged',
  reference: { source: 'none', layerId: null, layerName: '', fileName: '' },
  control: { layerId: null, layerName: '', start: 0, end: 1 },
  speed: 'custom',
  checkpoint: '',
  loras: [],
  eta: null,
  draftDecode: false,
  liveStrength: 0.5,
  liveLayer: false,
};

/** Photoshop starts on the whole canvas, text only: a document's pixels are used when the user picks a mode. */
export const PHOTOSHOP_DEFAULTS: GenerationSettings = { ...DEFAULT_SETTINGS, mode: 'canvas', useInit: false };

/** Where the plugin's jobs run: the daemon on this computer, or a studio server (docs/team.md). */
export type ServerKind = 'local' | 'studio';

export interface ConnectionSettings {
  port: number;
  /** The pairing token (local) or the user's studio token. */
  token: string;
  server?: ServerKind;
  /** A studio server: wss://HOST:PORT (its host must be in the manifests: npm run build -- --team-host HOST:PORT). */
  studioUrl?: string;
  /** The studio's certificate fingerprint, pinned on the first connection to `studioUrl`. */
  pinnedFingerprint?: string;
}

export const DEFAULT_CONNECTION: ConnectionSettings = { port: DEFAULT_PORT, token: '' };

/** A studio URL as the user types it: wss://host:port (a bare host:port gets wss://); null when unusable. */
export function parseStudioUrl(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const t = v.trim();
  if (!t || t.length > 300) return null;
  const withScheme = /^[a-z]+:\/\//i.test(t) ? t : `wss://${t}`;
  const m = /^(wss|ws):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/?$/i.exec(withScheme);
  if (!m || Number(m[3]) < 1 || Number(m[3]) > 65535) return null;
  return `${m[1].toLowerCase()}://${m[2].toLowerCase()}:${Number(m[3])}`;
}

const FINGERPRINT = /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/;

type Rec = Record<string, unknown>;

export function isRecord(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown, min: number, max: number, fallback: number, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) return fallback;
  return integer ? Math.round(v) : v;
}

function str(v: unknown, max: number, fallback: string): string {
  return typeof v === 'string' && v.length <= max ? v : fallback;
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], fallback: T): T {
  return typeof v === 'string' && (allowed as readonly string[]).includes(v) ? (v as T) : fallback;
}

const layerId = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : null);

const MODES: readonly RegionMode[] = ['canvas', 'inpaint', 'img2img'];

/**
 * The mode: a stored one wins; a form with only a "use the target's pixels" checkbox says img2img or
 * canvas; else the plugin's default.
 */
function parseMode(r: Rec, d: GenerationSettings): RegionMode {
  if (typeof r.mode === 'string' && (MODES as readonly string[]).includes(r.mode)) return r.mode as RegionMode;
  if (typeof r.useInit === 'boolean') return r.useInit ? (d.mode === 'canvas' ? 'img2img' : d.mode) : 'canvas';
  return d.mode;
}

/** The control layer's step range; an empty or reversed one falls back to the whole run. */
function parseRange(ctl: Rec, d: GenerationSettings['control']): { start: number; end: number } {
  const start = num(ctl.start, 0, 1, d.start);
  const end = num(ctl.end, 0, 1, d.end);
  return start < end ? { start, end } : { start: d.start, end: d.end };
}

/** Settings from anything (a stored JSON value, a form): invalid or missing fields take `defaults`. */
export function parseSettings(raw: unknown, defaults: GenerationSettings = DEFAULT_SETTINGS): GenerationSettings {
  const r: Rec = isRecord(raw) ? raw : {};
  const d = defaults;
  const ref: Rec = isRecord(r.reference) ? r.reference : {};
  const ctl: Rec = isRecord(r.control) ? r.control : {};
  const mode = parseMode(r, d);
  return {
    v: SETTINGS_VERSION,
    prompt: str(r.prompt, MAX_PROMPT_LENGTH, d.prompt),
    negativePrompt: str(r.negativePrompt, MAX_PROMPT_LENGTH, d.negativePrompt),
    steps: num(r.steps, STEPS.min, STEPS.max, d.steps, true),
    guidance: num(r.guidance, GUIDANCE.min, GUIDANCE.max, d.guidance),
    sampler: oneOf(r.sampler, SAMPLERS, d.sampler),
    seed: r.seed === null ? null : typeof r.seed === 'number' ? num(r.seed, 0, SEED_MAX, 0, true) : d.seed,
    lastSeed: num(r.lastSeed, 0, SEED_MAX, d.lastSeed, true),
    variations: num(r.variations, 1, MAX_VARIATIONS, d.variations, true),
    mode,
    useInit: mode !== 'canvas',
    strength: num(r.strength, STRENGTH.min, STRENGTH.max, d.strength),
    adapter: oneOf(r.adapter, ADAPTER_KINDS, d.adapter),
    referenceScale: num(r.referenceScale, REFERENCE_SCALE.min, REFERENCE_SCALE.max, d.referenceScale),
    preset: oneOf(r.preset, BLOCK_PRESETS, d.preset),
    controlType: oneOf(r.controlType, CONTROL_TYPES, d.controlType),
    controlPreprocess: oneOf(r.controlPreprocess, CONTROL_PREPROCESS, d.controlPreprocess),
    controlScale: num(r.controlScale, CONTROL_SCALE.min, CONTROL_SCALE.max, d.controlScale),
    preview: typeof r.preview === 'boolean' ? r.preview : d.preview,
    size: num(r.size, 64 * 64, 4096 * 4096, d.size, true),
    padding: num(r.padding, -1, 2048, d.padding, true),
    sample: oneOf<SampleFrom>(r.sample, ['merged', 'layer'], d.sample),
    reference: {
      source: oneOf<ReferenceSource>(ref.source, ['none', 'layer', 'file'], d.reference.source),
      layerId: layerId(ref.layerId),
      layerName: str(ref.layerName, 256, ''),
      fileName: str(ref.fileName, 256, ''),
      ...(ref.mask === true ? { mask: true } : {}),
      ...(typeof ref.maskChannel === 'string' && ref.maskChannel.length > 0 && ref.maskChannel.length <= 256 ? { maskChannel: ref.maskChannel } : {}),
    },
    ...parseReference2(r.reference2),
    control: { layerId: layerId(ctl.layerId), layerName: str(ctl.layerName, 256, ''), ...parseRange(ctl, d.control) },
    speed: oneOf<SpeedPreset | 'custom'>(r.speed, [...SPEED_PRESETS, 'custom'], d.speed),
    checkpoint: str(r.checkpoint, MAX_NAME_LENGTH, d.checkpoint),
    loras: Array.isArray(r.loras) ? parseLoras(r.loras) : d.loras,
    eta: r.eta === null ? null : typeof r.eta === 'number' ? num(r.eta, 0, 1, 0) : d.eta,
    draftDecode: typeof r.draftDecode === 'boolean' ? r.draftDecode : d.draftDecode,
    liveStrength: num(r.liveStrength, 0.05, 1, d.liveStrength),
    liveLayer: typeof r.liveLayer === 'boolean' ? r.liveLayer : d.liveLayer,
  };
}

/** The second reference layer, kept only when it names a layer. */
function parseReference2(v: unknown): Pick<GenerationSettings, 'reference2'> {
  if (!isRecord(v)) return {};
  const id = layerId(v.layerId);
  return id === null ? {} : { reference2: { layerId: id, layerName: str(v.layerName, 256, ''), ...(v.mask === true ? { mask: true } : {}) } };
}

function parseLoras(list: unknown[]): LoraSpec[] {
  const out: LoraSpec[] = [];
  for (const l of list.slice(0, MAX_LORAS)) {
    if (!isRecord(l) || typeof l.model !== 'string' || l.model.length === 0 || l.model.length > MAX_NAME_LENGTH) continue;
    out.push({ model: l.model, strength: num(l.strength, LORA_STRENGTH.min, LORA_STRENGTH.max, 1) });
  }
  return out;
}

/** The settings with a speed preset's model, steps, sampler, CFG and decode (speed-presets.ts). */
export function applySpeedPreset(s: GenerationSettings, r: PresetRecipe): GenerationSettings {
  return { ...s, speed: r.preset, checkpoint: r.checkpoint, loras: r.loras.map((l) => ({ ...l })), steps: r.steps, sampler: r.sampler, guidance: r.guidance, eta: r.eta, draftDecode: r.draftDecode };
}

/** Lock on: `seed` is fixed (to the last seed unless typed); off: null = a new random seed each time. */
export function withSeedLock(s: GenerationSettings, locked: boolean): GenerationSettings {
  return { ...s, seed: locked ? (s.seed ?? s.lastSeed) : null };
}

export function parseConnection(raw: unknown): ConnectionSettings {
  const r: Rec = isRecord(raw) ? raw : {};
  // Tokens are printable ASCII without spaces; anything else is a paste accident.
  const token = typeof r.token === 'string' && /^[\x21-\x7e]{0,256}$/.test(r.token.trim()) ? r.token.trim() : '';
  const out: ConnectionSettings = { port: num(r.port, 1, 65535, DEFAULT_PORT, true), token };
  const studioUrl = parseStudioUrl(r.studioUrl);
  if (studioUrl) out.studioUrl = studioUrl;
  if (r.server === 'studio' && studioUrl) out.server = 'studio'; // absent = this computer
  if (studioUrl && typeof r.pinnedFingerprint === 'string' && FINGERPRINT.test(r.pinnedFingerprint)) out.pinnedFingerprint = r.pinnedFingerprint;
  return out;
}
