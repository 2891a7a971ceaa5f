/**
 * The weight sources of one checkpoint (single-file LDM or diffusers folder), its family (SD1.5 or
 * SDXL, from its keys) and the architecture hints shapes cannot tell. Hints come from the
 * safetensors metadata (`ipa_bridge.*`, written by the synthetic model generator for tiny test
 * models); real files carry none and get their family's defaults.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { diffusersFiles, diffusersSource, ldmSource, type Component } from '../weights/names.ts';
import { isSdxlSingleFile, sdxlClipLSource, sdxlOpenClipGSource } from '../weights/openclip-names.ts';
import { SafetensorsFile } from '../weights/safetensors.ts';
import type { WeightSource } from '../weights/source.ts';
import type { UNetConfig } from '../graphs/unet.ts';
import type { VaeConfig } from '../graphs/vae.ts';
import { FAMILY_DEFAULTS, type Family } from './family.ts';

export type { Family };

/** A checkpoint's parts: the SD1.5 components, plus SDXL's second text encoder (OpenCLIP bigG, with projection). */
export type CheckpointPart = Component | 'text2';

export interface ArchHints {
  /** One count, or one per down level (SDXL configs' attention_head_dim list). */
  readonly unetHeads?: number | readonly number[];
  /** SDXL's time id sinusoid width (addition_time_embed_dim; 256 in released models). */
  readonly unetTimeIdDim?: number;
  readonly unetGroups?: number;
  readonly vaeGroups?: number;
  readonly textHeads?: number;
  /** SDXL's second text encoder. */
  readonly text2Heads?: number;
  readonly visionHeads?: number;
}

export function readHints(file: string): ArchHints {
  const m = SafetensorsFile.open(file).metadata;
  const n = (k: string) => (m[`ipa_bridge.${k}`] !== undefined ? Number(m[`ipa_bridge.${k}`]) : undefined);
  const heads = m['ipa_bridge.unet.heads'];
  const unetHeads = heads === undefined ? undefined : heads.trim().startsWith('[') ? (JSON.parse(heads) as number[]) : Number(heads);
  return { unetHeads, unetTimeIdDim: n('unet.time_id_dim'), unetGroups: n('unet.norm_groups'), vaeGroups: n('vae.norm_groups'), textHeads: n('text.heads'), text2Heads: n('text2.heads'), visionHeads: n('vision.heads') };
}


export interface Checkpoint {
  readonly path: string;
  readonly family: Family;
  readonly source: (c: CheckpointPart) => WeightSource;
  readonly hints: ArchHints;
  /** The VAE's latent scaling: the diffusers folder's vae/config.json, else the family's. */
  readonly vaeScaling: number;
}

/** diffusers' vae/config.json `scaling_factor`, when the folder has one. */
function folderVaeScaling(dir: string): number | undefined {
  const p = join(dir, 'vae', 'config.json');
  if (!existsSync(p)) return undefined;
  const v = (JSON.parse(readFileSync(p, 'utf8')) as { scaling_factor?: unknown }).scaling_factor;
  return typeof v === 'number' && v > 0 ? v : undefined;
}

function openFolder(path: string): Checkpoint {
  const family: Family = existsSync(join(path, 'text_encoder_2')) ? 'sdxl' : 'sd15';
  const first = diffusersFiles(path, 'unet')[0];
  const source = (c: CheckpointPart): WeightSource => {
    // text_encoder_2/ holds a CLIPTextModelWithProjection in HF naming (fp16 variants included).
    if (c === 'text2') {
      if (family !== 'sdxl') throw new Error(`${path}: no text_encoder_2 (not an SDXL pipeline folder)`);
      return diffusersSource(join(path, 'text_encoder_2'), 'text');
    }
    return diffusersSource(path, c);
  };
  return { path, family, source, hints: first ? readHints(first) : {}, vaeScaling: folderVaeScaling(path) ?? FAMILY_DEFAULTS[family].vaeScaling };
}

function openSingleFile(path: string): Checkpoint {
  const file = SafetensorsFile.open(path);
  const keys = file.keys();
  const family: Family = isSdxlSingleFile(keys) || file.tensors.has('model.diffusion_model.label_emb.0.0.weight') ? 'sdxl' : 'sd15';
  const cache = new Map<CheckpointPart, WeightSource>();
  const open = (c: CheckpointPart): WeightSource => {
    if (family === 'sdxl' && c === 'text') return sdxlClipLSource(file);
    if (c === 'text2') {
      if (family !== 'sdxl') throw new Error(`${path}: no second text encoder (not an SDXL checkpoint)`);
      return sdxlOpenClipGSource(file);
    }
    return ldmSource(file, c);
  };
  return {
    path,
    family,
    source: (c) => {
      let s = cache.get(c);
      if (!s) cache.set(c, (s = open(c)));
      return s;
    },
    hints: readHints(path),
    vaeScaling: FAMILY_DEFAULTS[family].vaeScaling,
  };
}

export function openCheckpoint(path: string): Checkpoint {
  return statSync(path).isDirectory() ? openFolder(path) : openSingleFile(path);
}

/** Only the settings that are set (a spread of `undefined` would override a builder's default). */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The UNet / ControlNet settings shapes cannot tell: the hints, else the builder's defaults for the
 * structure (SD1.5: 8 heads; SDXL: heads of width 64), group norm 32.
 */
export function unetConfigOf(c: Pick<Checkpoint, 'hints' | 'family'>): Partial<UNetConfig> {
  return defined({ heads: c.hints.unetHeads ?? (c.family === 'sd15' ? 8 : undefined), normGroups: c.hints.unetGroups ?? 32, timeIdDim: c.hints.unetTimeIdDim });
}

/** The VAE settings: group norm from the hints (32), the checkpoint's latent scaling. */
export function vaeConfigOf(c: Pick<Checkpoint, 'hints' | 'vaeScaling'>): Partial<VaeConfig> {
  return { groups: c.hints.vaeGroups ?? 32, scalingFactor: c.vaeScaling };
}
