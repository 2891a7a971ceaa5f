/**
 * TAESD / TAESDXL weight files (madebyollin's tiny autoencoder) in their two layouts, under one set of
 * canonical names (diffusers AutoencoderTiny: `decoder.layers.N.*`, `encoder.layers.K.*`):
 * - diffusers: one file with both parts (`diffusion_pytorch_model.safetensors` of an AutoencoderTiny
 *   folder such as madebyollin/taesd, or any file with those keys);
 * - taesd.py: `taesd_decoder.safetensors` / `taesd_encoder.safetensors` (`taesdxl_*` for SDXL), the
 *   Sequentials' bare indices; the decoder's index 0 is the parameter-free Clamp, so decoder file index
 *   N is diffusers' N - 1 (diffusers' convert_tiny_autoencoder_to_diffusers.py).
 * TAESD and TAESDXL have the same tensors; only the file or folder name says which latent space.
 */
import { SafetensorsFile } from './safetensors.ts';
import { layeredSource, renamedSource, safetensorsSource, type WeightSource } from './source.ts';

export type TaesdLayout = 'diffusers' | 'taesd-decoder' | 'taesd-encoder';

const CANONICAL = /^(decoder|encoder)\.layers\.\d+\./;
const ORIGINAL = /^\d+\.(weight|bias|conv\.\d+\.(weight|bias)|skip\.weight)$/;

/**
 * Which layout a file's keys are in; undefined when it is not TAESD. diffusers: `decoder.layers.*` /
 * `encoder.layers.*` and nothing else but non-numeric extras; taesd.py: only bare-index keys, the
 * decoder without `0.weight` (its Clamp), the encoder with it (its first conv).
 */
export function taesdLayout(keys: readonly string[]): TaesdLayout | undefined {
  if (keys.length === 0) return undefined;
  if (keys.some((k) => CANONICAL.test(k))) {
    return keys.every((k) => CANONICAL.test(k) || !/^(\d|encoder\.|decoder\.)/.test(k)) ? 'diffusers' : undefined;
  }
  if (!keys.every((k) => ORIGINAL.test(k))) return undefined;
  if (keys.includes('0.weight')) return 'taesd-encoder';
  return keys.includes('1.weight') ? 'taesd-decoder' : undefined;
}

/** Whether the TAESD is for SDXL latents, from the file / folder / repo name (the tensors cannot tell). */
export function isTaesdXlName(name: string): boolean {
  return /taesdxl|taesd[-_ ]?xl/i.test(name);
}

/** An original-layout file under the canonical names. */
function originalAsCanonical(file: SafetensorsFile, layout: 'taesd-decoder' | 'taesd-encoder'): WeightSource {
  const base = safetensorsSource(file);
  const map = new Map<string, string>();
  for (const key of base.keys()) {
    const dot = key.indexOf('.');
    const i = Number(key.slice(0, dot));
    const canonical = layout === 'taesd-decoder' ? `decoder.layers.${i - 1}${key.slice(dot)}` : `encoder.layers.${i}${key.slice(dot)}`;
    map.set(canonical, key);
  }
  return renamedSource(base, map, file.path);
}

/** One file as a canonical TAESD source, whichever layout it is in. */
export function taesdFileSource(path: string): WeightSource {
  const file = SafetensorsFile.open(path);
  const layout = taesdLayout(file.keys());
  if (!layout) throw new Error(`${path}: not a TAESD file (neither diffusers AutoencoderTiny keys nor taesd.py's decoder/encoder indices)`);
  return layout === 'diffusers' ? safetensorsSource(file) : originalAsCanonical(file, layout);
}

/** Canonical source from a diffusers AutoencoderTiny file, or the original decoder and/or encoder files. */
export function taesdSource(...paths: readonly string[]): WeightSource {
  if (paths.length === 0) throw new Error('taesdSource: no file');
  const sources = paths.map(taesdFileSource);
  return sources.length === 1 ? sources[0] : layeredSource(paths.join(' + '), ...sources);
}
