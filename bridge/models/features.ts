/**
 * What each feature needs, and what the installed models lack: the start-up report and the handshake
 * both say "image prompts: no IP-Adapter — npx ipa-bridge models pull sd15-style" from this one table.
 * Pure: it looks only at the roles (registry kinds) of the models found.
 */
import type { MissingFeature } from '../../shared/protocol/messages.ts';
import { describeRole, roleMatches, type Role } from './roles.ts';

export type { MissingFeature };

interface Requirement {
  /** Any one of these roles fills the need. */
  readonly anyOf: readonly Role[];
  /** Short name for "no …". */
  readonly label: string;
  readonly preset: string;
}

interface FeatureRule {
  readonly feature: string;
  readonly needs: readonly Requirement[];
}

const PULL = 'npx ipa-bridge models pull';

// 'checkpoint' also matches its sub-roles (checkpoint:sdxl…): either family serves text to image.
const CHECKPOINT: Requirement = { anyOf: ['checkpoint'], label: 'Stable Diffusion 1.5 or SDXL checkpoint', preset: 'sd15-style' };
// The tokenizer alone is ~2 MB: never send someone to the 6.8 GB preset for it.
const TOKENIZER: Requirement = { anyOf: ['tokenizer'], label: 'CLIP tokenizer', preset: 'tokenizer' };

export const FEATURE_RULES: readonly FeatureRule[] = [
  { feature: 'text to image', needs: [CHECKPOINT, TOKENIZER] },
  {
    feature: 'image prompts',
    needs: [
      // Either family's adapters; an SDXL-only install is not told to fetch SD1.5 ones.
      { anyOf: ['ipadapter:base', 'ipadapter:plus', 'ipadapter:sdxl-base', 'ipadapter:sdxl-plus'], label: 'IP-Adapter', preset: 'sd15-style' },
      // The engine takes the encoder whose width the adapter's projection expects: ViT-H for the SD1.5 and
      // `_vit-h` SDXL adapters, ViT-bigG for ip-adapter_sdxl (a mismatch is named when the job runs).
      { anyOf: ['clip_vision:vit-h', 'clip_vision'], label: 'ViT-H image encoder', preset: 'sd15-style' },
    ],
  },
  { feature: 'pose control', needs: [{ anyOf: ['controlnet:pose', 'controlnet:sdxl-pose'], label: 'OpenPose ControlNet', preset: 'sd15-style' }] },
  { feature: 'canny control', needs: [{ anyOf: ['controlnet:canny', 'controlnet:sdxl-canny'], label: 'Canny ControlNet', preset: 'sd15-style' }] },
  { feature: 'depth control', needs: [{ anyOf: ['controlnet:depth', 'controlnet:sdxl-depth'], label: 'Depth ControlNet', preset: 'sd15-style' }] },
  {
    feature: 'pose from photos',
    needs: [
      { anyOf: ['dwpose:detector'], label: 'DWPose detector', preset: 'annotators' },
      { anyOf: ['dwpose:pose'], label: 'DWPose pose model', preset: 'annotators' },
    ],
  },
  { feature: 'depth from photos', needs: [{ anyOf: ['depth'], label: 'Depth-Anything model', preset: 'annotators' }] },
  {
    feature: 'FaceID',
    needs: [
      { anyOf: ['ipadapter:faceid', 'ipadapter:faceid-plus', 'ipadapter:faceid-plusv2', 'ipadapter:portrait'], label: 'FaceID adapter', preset: 'faceid' },
      { anyOf: ['insightface:detector'], label: 'insightface face detector', preset: 'faceid' },
      { anyOf: ['insightface:recognizer'], label: 'insightface face recognizer', preset: 'faceid' },
    ],
  },
];

/** Every feature with something missing, in FEATURE_RULES order; [] when everything is there. */
export function missingFeatures(models: ReadonlyArray<{ readonly kind: string }>): MissingFeature[] {
  const has = (r: Requirement): boolean => r.anyOf.some((role) => models.some((m) => roleMatches(role, m.kind)));
  const out: MissingFeature[] = [];
  for (const rule of FEATURE_RULES) {
    const lacking = rule.needs.filter((n) => !has(n));
    if (lacking.length === 0) continue;
    // sd15-style carries the tokenizer too: one command, not two.
    const all = new Set(lacking.map((n) => n.preset));
    const presets = [...all].filter((p) => !(p === 'tokenizer' && all.has('sd15-style')));
    out.push({
      feature: rule.feature,
      lacks: lacking.map((n) => n.label),
      roles: lacking.flatMap((n) => n.anyOf.slice(0, 1)),
      command: presets.map((p) => `${PULL} ${p}`).join(' && '),
    });
  }
  return out;
}

/** "image prompts: no IP-Adapter, no ViT-H image encoder — npx ipa-bridge models pull sd15-style" */
export function formatMissing(m: MissingFeature): string {
  return `${m.feature}: no ${m.lacks.join(', no ')} — ${m.command}`;
}

/** Found models grouped by role, for the start-up report ("checkpoint: v1-5-pruned-emaonly.safetensors"). */
export function foundByRole(models: ReadonlyArray<{ readonly kind: string; readonly name: string }>): Array<{ role: Role; label: string; names: string[] }> {
  const byRole = new Map<Role, string[]>();
  for (const m of models) byRole.set(m.kind, [...(byRole.get(m.kind) ?? []), m.name]);
  return [...byRole.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([role, names]) => ({ role, label: describeRole(role), names }));
}
