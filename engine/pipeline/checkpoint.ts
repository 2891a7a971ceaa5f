/**
 * The weight sources of one checkpoint (single-file LDM or diffusers folder) and the architecture
 * hints shapes cannot tell. Hints come from the safetensors metadata (`ipa_bridge.*`, written by
 * the synthetic model generator for tiny test models); real SD1.5 files carry none and get the
 * SD1.5 defaults.
 */
import { statSync } from 'node:fs';
import { diffusersFiles, diffusersSource, ldmSource, type Component } from '../weights/names.ts';
import { SafetensorsFile } from '../weights/safetensors.ts';
import type { WeightSource } from '../weights/source.ts';

export interface ArchHints {
  readonly unetHeads?: number;
  readonly unetGroups?: number;
  readonly vaeGroups?: number;
  readonly textHeads?: number;
  readonly visionHeads?: number;
}

export function readHints(file: string): ArchHints {
  const m = SafetensorsFile.open(file).metadata;
  const n = (k: string) => (m[`ipa_bridge.${k}`] !== undefined ? Number(m[`ipa_bridge.${k}`]) : undefined);
  return { unetHeads: n('unet.heads'), unetGroups: n('unet.norm_groups'), vaeGroups: n('vae.norm_groups'), textHeads: n('text.heads'), visionHeads: n('vision.heads') };
}

export interface Checkpoint {
  readonly path: string;
  readonly source: (c: Component) => WeightSource;
  readonly hints: ArchHints;
}

export function openCheckpoint(path: string): Checkpoint {
  if (statSync(path).isDirectory()) {
    const first = diffusersFiles(path, 'unet')[0];
    return { path, source: (c) => diffusersSource(path, c), hints: first ? readHints(first) : {} };
  }
  const file = SafetensorsFile.open(path);
  const cache = new Map<Component, WeightSource>();
  return {
    path,
    source: (c) => {
      let s = cache.get(c);
      if (!s) cache.set(c, (s = ldmSource(file, c)));
      return s;
    },
    hints: readHints(path),
  };
}
