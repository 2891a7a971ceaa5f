/**
 * The "Live", "Fast" and "Quality" presets both plugins offer: one rule that picks, from the models the
 * daemon reports (`capabilities.models`, with `fewStep` and `base` read off the names and tensors by
 * the daemon), the few-step model or LoRA to use, its steps, its sampler and its CFG as its model card
 * gives them. A plugin never offers a model that is not installed: without a few-step model, Live and
 * Fast run the standard checkpoint at fewer steps and say so (`note`). Pure.
 *
 * Model-card recipes (diffusers names in brackets; CFG "off" = guidance 1, one UNet pass per step):
 * - LCM-LoRA SD1.5 / SDXL (latent-consistency): LCM scheduler, 4 steps (2–8), CFG off.
 * - TCD-LoRA (h1t): TCD scheduler, 4 steps, CFG off, gamma (eta) 0.3.
 * - Hyper-SD N-step LoRAs (ByteDance): DDIM with "trailing" spacing, N steps, CFG off; the `-CFG`
 *   variants keep CFG (guidance 5–8); the unified 1-step LoRA runs TCD with eta 1.
 * - SDXL-Lightning N-step (ByteDance): Euler with "trailing" spacing, N steps, CFG off.
 * - SDXL-Turbo (stabilityai): Euler ancestral, trailing, 1–4 steps, CFG off.
 */
import { FEW_STEP_FAMILIES, type LoraSpec, type ModelInfo, type SamplerName } from '../protocol/messages.ts';

export type SpeedPreset = 'live' | 'fast' | 'quality';
export const SPEED_PRESETS: readonly SpeedPreset[] = ['live', 'fast', 'quality'];
export const SPEED_PRESET_LABELS: Readonly<Record<SpeedPreset, string>> = { live: 'Live', fast: 'Fast', quality: 'Quality' };

export interface PresetRecipe {
  preset: SpeedPreset;
  /** Checkpoint file name; '' = the daemon's default checkpoint. */
  checkpoint: string;
  loras: LoraSpec[];
  steps: number;
  sampler: SamplerName;
  guidance: number;
  /** TCD's gamma / DDIM's eta; null = the sampler's default. */
  eta: number | null;
  /** The final image through TAESD (Live only: previews matter more than the last bit of detail). */
  draftDecode: boolean;
  /** What it runs, for the panel: "LCM-LoRA (lcm-lora-sdv1-5.safetensors), 4 steps". */
  label: string;
  /** Set when the preset could not use a few-step model: what to install for it. */
  note?: string;
}

/** The standard job: what "Quality" runs on a standard checkpoint. */
export const QUALITY = { steps: 25, sampler: 'dpmpp-2m-karras', guidance: 7 } as const;

const FAMILY_LABEL: Record<string, string> = { lcm: 'LCM', tcd: 'TCD', 'hyper-sd': 'Hyper-SD', lightning: 'SDXL-Lightning', turbo: 'SDXL-Turbo' };

const NO_FEW_STEP_NOTE = 'No few-step model is installed (LCM-LoRA, Hyper-SD, SDXL-Lightning, SDXL-Turbo): this runs the standard model at fewer steps. ' +
  'Put e.g. lcm-lora-sdv1-5.safetensors into the LoRA folder for 4-step generations.';

type Candidate = { model: ModelInfo; lora: boolean };

/** A `fewStep` this rule understands (a newer daemon's unknown family or an odd step count is ignored). */
function usableFewStep(m: ModelInfo): boolean {
  const f = m.fewStep;
  return !!f && FEW_STEP_FAMILIES.includes(f.family) && (f.steps === undefined || (Number.isInteger(f.steps) && f.steps >= 1 && f.steps <= 50));
}

function kindOf(m: ModelInfo): string {
  return m.kind.split(':')[0];
}

/** A checkpoint for generating (roles checkpoint, checkpoint:sdxl), not an inpainting one. */
function isCheckpoint(m: ModelInfo): boolean {
  return kindOf(m) === 'checkpoint' && !m.kind.includes('inpaint');
}

/** Standard (not few-step, not inpainting) checkpoints, in the daemon's order. */
function standardCheckpoints(models: readonly ModelInfo[]): ModelInfo[] {
  return models.filter((m) => isCheckpoint(m) && !m.fewStep);
}

function baseOf(m: ModelInfo | undefined): string {
  return m?.base ?? (m?.kind.includes('sdxl') ? 'sdxl' : 'sd15');
}

/** Steps, sampler, CFG and eta of a few-step model for Live (fewest) or Fast (the model's best). */
function recipeOf(c: Candidate, preset: 'live' | 'fast'): Pick<PresetRecipe, 'steps' | 'sampler' | 'guidance' | 'eta'> {
  const f = c.model.fewStep!;
  switch (f.family) {
    case 'lcm':
      return { steps: preset === 'live' ? 4 : 8, sampler: 'lcm', guidance: 1, eta: null };
    case 'tcd':
      return { steps: preset === 'live' ? 4 : 8, sampler: 'tcd', guidance: 1, eta: 0.3 };
    case 'hyper-sd':
      // The unified 1-step LoRA is a TCD model (eta 1 at one step, lower for more detail at more).
      if ((f.steps ?? 1) === 1) return preset === 'live' ? { steps: 1, sampler: 'tcd', guidance: 1, eta: 1 } : { steps: 4, sampler: 'tcd', guidance: 1, eta: 0.5 };
      return { steps: f.steps!, sampler: 'ddim-trailing', guidance: f.cfg ? 5 : 1, eta: null };
    case 'lightning':
      return { steps: f.steps ?? 4, sampler: 'euler-trailing', guidance: 1, eta: null };
    case 'turbo':
      return { steps: preset === 'live' ? 1 : 4, sampler: 'euler-ancestral-trailing', guidance: 1, eta: null };
  }
}

/**
 * Candidates for Live or Fast, best first. LoRAs on the default checkpoint come first (the user's own
 * model keeps its look), then few-step checkpoints. Among families: distilled-for-N-steps models
 * (Hyper-SD, Lightning) before LCM and TCD, CFG-keeping variants last (CFG doubles a step's cost).
 * Live prefers the fewest steps, Fast the most (up to 8).
 */
function candidates(models: readonly ModelInfo[], preset: 'live' | 'fast'): Candidate[] {
  const base = baseOf(standardCheckpoints(models)[0]);
  const order = ['hyper-sd', 'lightning', 'lcm', 'tcd', 'turbo'];
  const rank = (c: Candidate): number => {
    const f = c.model.fewStep!;
    const steps = f.steps ?? 4;
    const stepRank = preset === 'live' ? steps : steps <= 8 ? 8 - steps : 100 + steps;
    return (c.lora ? 0 : 10_000) + (f.cfg ? 1000 : 0) + order.indexOf(f.family) * 100 + stepRank;
  };
  const hasStandard = standardCheckpoints(models).length > 0;
  return models
    .filter((m) => usableFewStep(m) && (kindOf(m) === 'lora' ? hasStandard && (m.base === undefined || m.base === base) : isCheckpoint(m)))
    .map((m) => ({ model: m, lora: kindOf(m) === 'lora' }))
    .sort((a, b) => rank(a) - rank(b));
}

function describe(c: Candidate, steps: number): string {
  const f = c.model.fewStep!;
  return `${FAMILY_LABEL[f.family]}${c.lora ? '-LoRA' : ''} (${c.model.name}), ${steps} step${steps === 1 ? '' : 's'}`;
}

/** The recipe for `preset` with these installed models. */
export function presetRecipe(preset: SpeedPreset, models: readonly ModelInfo[]): PresetRecipe {
  const standard = standardCheckpoints(models)[0];
  if (preset !== 'quality') {
    const best = candidates(models, preset)[0];
    if (best) {
      const r = recipeOf(best, preset);
      return {
        preset, ...r,
        checkpoint: best.lora ? '' : best.model.name,
        loras: best.lora ? [{ model: best.model.name, strength: 1 }] : [],
        draftDecode: preset === 'live',
        label: describe(best, r.steps),
      };
    }
    const steps = preset === 'live' ? 8 : 12;
    return {
      preset, checkpoint: '', loras: [], steps, sampler: 'dpmpp-2m-karras', guidance: preset === 'live' ? 5 : 6, eta: null,
      draftDecode: preset === 'live', label: `${standard ? standard.name : 'the default checkpoint'}, ${steps} steps`, note: NO_FEW_STEP_NOTE,
    };
  }
  if (standard || !models.some((m) => isCheckpoint(m) && m.fewStep)) {
    return { preset, checkpoint: '', loras: [], ...QUALITY, eta: null, draftDecode: false, label: `${standard ? standard.name : 'the default checkpoint'}, ${QUALITY.steps} steps` };
  }
  // Only few-step checkpoints: Quality is the best of them at its Fast recipe.
  const best = candidates(models, 'fast')[0];
  const r = recipeOf(best, 'fast');
  return { preset, ...r, checkpoint: best.model.name, loras: [], draftDecode: false, label: describe(best, r.steps) };
}

/**
 * Steps for an img2img job at `strength`: the engine runs about steps × strength of them, so a 1- or
 * 2-step recipe gets enough steps that at least `min` run (diffusers' Turbo img2img: 2 steps at 0.5).
 */
export function stepsForStrength(steps: number, strength: number, min = 1): number {
  if (strength <= 0) return steps;
  return Math.max(steps, Math.min(150, Math.ceil(min / strength - 1e-9)));
}
