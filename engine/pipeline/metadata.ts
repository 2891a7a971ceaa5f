/**
 * The A1111 "parameters" text other tools read from a PNG (A1111, Forge, ComfyUI's loaders,
 * civitai): prompt, "Negative prompt: …", then "Key: value" pairs on one line.
 */
import type { GenerateParams } from '../api.ts';
import { FAMILY_LABEL } from './family.ts';

type Range = { readonly start: number; readonly end: number };
/** What the text needs; satisfied by the engine's GenerationMetadata and the protocol's result metadata. */
export interface ParameterSource {
  readonly params: Pick<GenerateParams, 'prompt' | 'negativePrompt' | 'steps' | 'guidance' | 'seed' | 'width' | 'height' | 'strength' | 'clipSkip'> & {
    readonly sampler: string;
    readonly variationSeed?: number;
    readonly variationStrength?: number;
    readonly loras?: ReadonlyArray<{ readonly model: string; readonly strength: number }>;
  };
  readonly references: ReadonlyArray<{ readonly adapter?: string; readonly scale?: number; readonly preset?: string; readonly range?: Range }>;
  readonly controls: ReadonlyArray<{ readonly type?: string; readonly preprocess?: string; readonly scale?: number; readonly range?: Range; readonly guessMode?: boolean }>;
  readonly models: Readonly<Record<string, { readonly name: string; readonly sha256: string }>>;
  /** The checkpoint's family; absent in metadata written before SDXL was supported. */
  readonly family?: 'sd15' | 'sdxl';
}

const SAMPLER_NAMES: Record<string, string> = {
  ddim: 'DDIM', euler: 'Euler', 'euler-ancestral': 'Euler a', 'dpmpp-2m': 'DPM++ 2M', 'dpmpp-2m-karras': 'DPM++ 2M Karras', lcm: 'LCM', unipc: 'UniPC',
};

/** Values with commas or quotes are quoted, as A1111 does. */
const quote = (v: string) => (/[,:"]/.test(v) ? JSON.stringify(v) : v);

export function a1111Parameters(m: ParameterSource, imageIndex = 0): string {
  const p = m.params;
  const pairs: Array<[string, string | number]> = [
    ['Steps', p.steps],
    ['Sampler', SAMPLER_NAMES[p.sampler] ?? p.sampler],
    ['CFG scale', p.guidance],
    ['Seed', p.seed + imageIndex],
    ['Size', `${p.width}x${p.height}`],
  ];
  const ckpt = m.models.checkpoint;
  // "Model hash" is A1111's AutoV2 short hash: the first 10 hex digits of the file's sha256.
  if (ckpt?.sha256) pairs.push(['Model hash', ckpt.sha256.slice(0, 10)]);
  if (ckpt) pairs.push(['Model', ckpt.name.replace(/\.safetensors$/, '')]);
  // A1111 has no such key; other tools read the usual ones as before.
  if (m.family) pairs.push(['Model family', FAMILY_LABEL[m.family]]);
  if (p.strength < 1) pairs.push(['Denoising strength', p.strength]);
  if (p.clipSkip > 1) pairs.push(['Clip skip', p.clipSkip]);
  if (p.variationSeed !== undefined && p.variationStrength) pairs.push(['Variation seed', p.variationSeed], ['Variation seed strength', p.variationStrength]);
  m.references.forEach((r, i) => {
    const model = m.models[`ipadapter:${i}`]?.name ?? r.adapter ?? 'base';
    const range = r.range ?? { start: 0, end: 1 };
    pairs.push([`IP-Adapter ${i}`, quote(`${model}, scale ${r.scale ?? 1}, preset ${r.preset ?? 'reference'}, steps ${range.start}-${range.end}`)]);
  });
  m.controls.forEach((c, i) => {
    const model = m.models[`controlnet:${i}`]?.name ?? c.type ?? 'pose';
    const range = c.range ?? { start: 0, end: 1 };
    pairs.push([`ControlNet ${i}`, quote(`Module: ${c.preprocess ?? 'none'}, Model: ${model}, Weight: ${c.scale ?? 1}, Guidance Start: ${range.start}, Guidance End: ${range.end}${c.guessMode ? ', Control Mode: My prompt is more important' : ''}`)]);
  });
  for (const l of p.loras ?? []) pairs.push([`Lora ${l.model}`, l.strength]);
  // A1111's "Lora hashes": the AutoV2 short hash (first 10 hex of the sha256), what civitai matches on.
  const loraHashes = Object.entries(m.models).filter(([role, v]) => role.startsWith('lora:') && /^[0-9a-f]{64}$/.test(v.sha256)).map(([, v]) => `${v.name.replace(/\.safetensors$/, '').split('/').pop()}: ${v.sha256.slice(0, 10)}`);
  if (loraHashes.length) pairs.push(['Lora hashes', JSON.stringify(loraHashes.join(', '))]);
  pairs.push(['Version', 'ipa-bridge']);
  const lines = [p.prompt];
  if (p.negativePrompt) lines.push(`Negative prompt: ${p.negativePrompt}`);
  lines.push(pairs.map(([k, v]) => `${k}: ${v}`).join(', '));
  return lines.join('\n');
}
