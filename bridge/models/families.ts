/**
 * What the installed models allow per model family, for the handshake: each family's checkpoints,
 * the adapter kinds and control types its UNet has models for (SDXL ones are filed as
 * `ipadapter:sdxl-<kind>`, roles.ts), and its generation defaults (engine/pipeline/family.ts), so a
 * plugin shows the family of the chosen checkpoint and offers only what fits it.
 */
import { FAMILY_DEFAULTS, SDXL_BUCKETS, type Family } from '../../engine/pipeline/family.ts';
import { ADAPTER_KINDS, CONTROL_TYPES, type FamilyCapabilities, type ModelInfo, type SamplerName } from '../../shared/protocol/messages.ts';

const FAMILIES: readonly Family[] = ['sd15', 'sdxl'];

/** The family a checkpoint role belongs to (`checkpoint`, `checkpoint:inpaint` → sd15; `checkpoint:sdxl*` → sdxl). */
function checkpointFamily(kind: string): Family | undefined {
  if (kind === 'checkpoint' || kind === 'checkpoint:inpaint') return 'sd15';
  if (kind === 'checkpoint:sdxl' || kind === 'checkpoint:sdxl-inpaint') return 'sdxl';
  return undefined;
}

/**
 * The family of the checkpoint a job runs on: the one it names, else the default one (`ModelInfo.default`).
 * SD1.5 when the list does not tell (no engine yet, an unknown name: the engine's error will say which).
 */
export function jobFamily(models: readonly ModelInfo[], checkpoint: string | undefined): Family {
  const ckpt = models.find((m) => checkpointFamily(m.kind) !== undefined && (checkpoint === undefined ? m.default : m.name === checkpoint));
  return (ckpt && checkpointFamily(ckpt.kind)) ?? 'sd15';
}

/** Families with at least one installed checkpoint, each with what its models allow. */
export function familyCapabilities(models: readonly ModelInfo[]): Partial<Record<Family, FamilyCapabilities>> {
  const out: Partial<Record<Family, FamilyCapabilities>> = {};
  for (const family of FAMILIES) {
    const checkpoints = models.filter((m) => checkpointFamily(m.kind) === family).map((m) => m.name);
    if (checkpoints.length === 0) continue;
    const prefix = family === 'sdxl' ? 'sdxl-' : '';
    const d = FAMILY_DEFAULTS[family];
    out[family] = {
      checkpoints,
      adapters: ADAPTER_KINDS.filter((k) => models.some((m) => m.kind === `ipadapter:${prefix}${k}`)),
      controls: CONTROL_TYPES.filter((t) => models.some((m) => m.kind === `controlnet:${prefix}${t}`)),
      defaults: {
        width: d.size, height: d.size, steps: d.steps, guidance: d.guidance, sampler: d.sampler,
        ...(family === 'sdxl' ? { buckets: SDXL_BUCKETS.map(([w, h]) => [w, h] as [number, number]) } : {}),
      },
    };
  }
  return out;
}
