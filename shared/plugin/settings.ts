/**
 * What a plugin remembers between sessions: the generation settings form and the connection (port and
 * pairing token). Stored as JSON by the host (Figma clientStorage, UXP localStorage); read back through
 * parse functions that keep every valid field and fall back to the default for the rest, so an older or
 * hand-edited record never breaks the panel.
 */
import { DEFAULT_PORT } from '../protocol/constants.ts';
import { CONTROL_SCALE, GUIDANCE, MAX_PROMPT_LENGTH, REFERENCE_SCALE, SEED_MAX, STEPS, STRENGTH } from '../protocol/limits.ts';
import {
  ADAPTER_KINDS, BLOCK_PRESETS, CONTROL_PREPROCESS, CONTROL_TYPES, SAMPLERS,
  type AdapterKind, type BlockPreset, type ControlPreprocess, type ControlType, type SamplerName,
} from '../protocol/messages.ts';

export const SETTINGS_VERSION = 1;
export const MAX_VARIATIONS = 8;

export interface GenerationSettings {
  v: typeof SETTINGS_VERSION;
  prompt: string;
  negativePrompt: string;
  steps: number;
  guidance: number;
  sampler: SamplerName;
  /** A fixed seed, or null for a new random one per generation. */
  seed: number | null;
  /** Images per generation (one job, batch of seeds seed, seed+1, …). */
  variations: number;
  /** Start from the target's pixels (img2img) instead of text only. */
  useInit: boolean;
  /** img2img denoising strength: 0 keeps the input, 1 ignores it. */
  strength: number;
  adapter: AdapterKind;
  referenceScale: number;
  preset: BlockPreset;
  controlType: ControlType;
  controlPreprocess: ControlPreprocess;
  controlScale: number;
}

export const DEFAULT_SETTINGS: GenerationSettings = {
  v: SETTINGS_VERSION,
  prompt: '',
  negativePrompt: 'blurry, low quality, watermark, text',
  steps: STEPS.default,
  guidance: GUIDANCE.default,
  sampler: 'dpmpp-2m-karras',
  seed: null,
  variations: 1,
  useInit: true,
  strength: STRENGTH.default,
  adapter: 'base',
  referenceScale: REFERENCE_SCALE.default,
  preset: 'reference',
  controlType: 'pose',
  controlPreprocess: 'none',
  controlScale: CONTROL_SCALE.default,
};

export interface ConnectionSettings {
  port: number;
  token: string;
}

export const DEFAULT_CONNECTION: ConnectionSettings = { port: DEFAULT_PORT, token: '' };

type Rec = Record<string, unknown>;

function isRec(v: unknown): v is Rec {
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

/** Settings from anything (a stored JSON value, a form): invalid or missing fields take the defaults. */
export function parseSettings(raw: unknown): GenerationSettings {
  const r: Rec = isRec(raw) ? raw : {};
  const d = DEFAULT_SETTINGS;
  return {
    v: SETTINGS_VERSION,
    prompt: str(r.prompt, MAX_PROMPT_LENGTH, d.prompt),
    negativePrompt: str(r.negativePrompt, MAX_PROMPT_LENGTH, d.negativePrompt),
    steps: num(r.steps, STEPS.min, STEPS.max, d.steps, true),
    guidance: num(r.guidance, GUIDANCE.min, GUIDANCE.max, d.guidance),
    sampler: oneOf(r.sampler, SAMPLERS, d.sampler),
    seed: r.seed === null ? null : typeof r.seed === 'number' ? num(r.seed, 0, SEED_MAX, 0, true) : d.seed,
    variations: num(r.variations, 1, MAX_VARIATIONS, d.variations, true),
    useInit: typeof r.useInit === 'boolean' ? r.useInit : d.useInit,
    strength: num(r.strength, STRENGTH.min, STRENGTH.max, d.strength),
    adapter: oneOf(r.adapter, ADAPTER_KINDS, d.adapter),
    referenceScale: num(r.referenceScale, REFERENCE_SCALE.min, REFERENCE_SCALE.max, d.referenceScale),
    preset: oneOf(r.preset, BLOCK_PRESETS, d.preset),
    controlType: oneOf(r.controlType, CONTROL_TYPES, d.controlType),
    controlPreprocess: oneOf(r.controlPreprocess, CONTROL_PREPROCESS, d.controlPreprocess),
    controlScale: num(r.controlScale, CONTROL_SCALE.min, CONTROL_SCALE.max, d.controlScale),
  };
}

export function parseConnection(raw: unknown): ConnectionSettings {
  const r: Rec = isRec(raw) ? raw : {};
  // Tokens are printable ASCII without spaces; anything else is a paste accident.
  const token = typeof r.token === 'string' && /^[\x21-\x7e]{0,256}$/.test(r.token.trim()) ? r.token.trim() : '';
  return { port: num(r.port, 1, 65535, DEFAULT_PORT, true), token };
}
