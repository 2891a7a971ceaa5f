/**
 * The one name-normalisation table: every supported weight naming is mapped onto canonical
 * diffusers / Hugging Face keys, the block paths the graph builders use.
 *
 *  - LDM single-file SD1.5 checkpoints: `model.diffusion_model.*` (UNet), `first_stage_model.*`
 *    (VAE), `cond_stage_model.transformer.[text_model.]*` (CLIP text encoder). SDXL single files use
 *    the same UNet naming (plus `label_emb.0.{0,2}` = `add_embedding.linear_{1,2}`; block counts and
 *    transformer depths come from the keys) and the same VAE naming.
 *  - lllyasviel ControlNets (`time_embed`, `input_blocks`, `middle_block`, `input_hint_block`,
 *    `zero_convs`, `middle_block_out`), with or without a `control_model.` prefix.
 *  - diffusers folders / files (`unet/`, `vae/`, `text_encoder/`, ControlNet folders), including the
 *    older diffusers VAE attention names (`query`, `key`, `value`, `proj_attn`).
 *
 * Maps are built from the keys present: layer counts (layers per block, number of blocks, up-block
 * order of the VAE, hint-block length) are read off the file, so the tiny fixtures and the real
 * SD1.5 sizes take one code path. Tensors are never copied: a mapped source hands out the original
 * byte ranges, at most viewed with another shape of the same size (LDM's [C,C,1,1] VAE attention
 * projections are presented as the [C,C] matrices diffusers stores).
 *
 * Every key under a component's prefix must be understood; an unknown key is an error naming the
 * file and the key (better than silently building a model with a missing piece).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SafetensorsFile } from './safetensors.ts';
import { layeredSource, safetensorsSource, type WeightSource } from './source.ts';
import { openWeightFile } from './open.ts';

export type Component = 'unet' | 'vae' | 'text' | 'controlnet';

/** Canonical key -> source key (+ optional shape view of the same bytes). */
export interface NameEntry {
  readonly source: string;
  readonly shape?: readonly number[];
}
export type NameMap = ReadonlyMap<string, NameEntry>;

export class WeightNamingError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'WeightNamingError';
  }
}

/** LDM prefixes of the three parts of a single-file SD1.5 checkpoint. */
export const LDM_PREFIX = {
  unet: 'model.diffusion_model.',
  vae: 'first_stage_model.',
  text: 'cond_stage_model.transformer.',
} as const;

const CONTROL_MODEL_PREFIX = 'control_model.';

type Shapes = ReadonlyMap<string, readonly number[]>;

// ---------------------------------------------------------------------------------------------
// Building blocks

/** A source whose keys are canonical names; tensors are the base's, optionally shape-viewed. */
export function mappedSource(base: WeightSource, map: NameMap, description: string): WeightSource {
  return {
    description,
    keys: () => [...map.keys()],
    get(key) {
      const e = map.get(key);
      if (!e) return undefined;
      const t = base.get(e.source);
      if (!t) return undefined;
      if (e.shape) {
        const n = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
        if (n(e.shape) !== n(t.shape)) throw new Error(`${t.origin}: cannot view [${t.shape}] as [${e.shape}]`);
        return { ...t, key, shape: e.shape };
      }
      return { ...t, key };
    },
  };
}

class MapBuilder {
  readonly map = new Map<string, NameEntry>();
  readonly unknown: string[] = [];
  constructor(readonly file: string) {}

  add(canonical: string, source: string, shape?: readonly number[]): void {
    const prev = this.map.get(canonical);
    if (prev) throw new WeightNamingError(this.file, `tensors "${prev.source}" and "${source}" both map to "${canonical}"`);
    this.map.set(canonical, shape ? { source, shape } : { source });
  }

  finish(what: string): Map<string, NameEntry> {
    if (this.unknown.length) {
      const list = this.unknown.slice(0, 5).map((k) => `"${k}"`).join(', ');
      throw new WeightNamingError(this.file, `${this.unknown.length} tensor(s) not understood as part of ${what}: ${list}${this.unknown.length > 5 ? ', …' : ''}`);
    }
    if (this.map.size === 0) throw new WeightNamingError(this.file, `no tensors of ${what} found`);
    return this.map;
  }
}

function openFile(file: SafetensorsFile | string): SafetensorsFile {
  return typeof file === 'string' ? SafetensorsFile.open(file) : file;
}

function shapesOf(f: SafetensorsFile): Map<string, readonly number[]> {
  const m = new Map<string, readonly number[]>();
  for (const [k, info] of f.tensors) m.set(k, info.shape);
  return m;
}

/** Keys under `prefix`, prefix stripped. */
function under(shapes: Shapes, prefix: string): string[] {
  const out: string[] = [];
  for (const k of shapes.keys()) if (k.startsWith(prefix)) out.push(k.slice(prefix.length));
  return out;
}

/** A ResnetBlock2D's modules: LDM's path and diffusers' name (also read backwards by the LoRA mapper, lora.ts). */
export const RESNET_MODULES: ReadonlyArray<readonly [ldm: string, diffusers: string]> = [
  ['in_layers.0', 'norm1'],
  ['in_layers.2', 'conv1'],
  ['emb_layers.1', 'time_emb_proj'],
  ['out_layers.0', 'norm2'],
  ['out_layers.3', 'conv2'],
  ['skip_connection', 'conv_shortcut'],
];

function renameResnet(rest: string): string | undefined {
  for (const [ldm, diffusers] of RESNET_MODULES) if (rest.startsWith(`${ldm}.`)) return diffusers + rest.slice(ldm.length);
  return undefined;
}

const TRANSFORMER_PARTS = ['norm.', 'proj_in.', 'proj_out.', 'transformer_blocks.'];
const isTransformerKey = (rest: string): boolean => TRANSFORMER_PARTS.some((p) => rest.startsWith(p));

// ---------------------------------------------------------------------------------------------
// UNet (and the UNet-shaped half of a ControlNet)

export interface LdmUnetLayout {
  /** Resnets per down block (SD1.5: 2); up blocks have one more. */
  readonly layersPerBlock: number;
  readonly downBlocks: number;
  /** Up blocks present (0 for a ControlNet). */
  readonly upBlocks: number;
}

function indicesOf(keys: readonly string[], head: string): number[] {
  const s = new Set<number>();
  for (const k of keys) {
    if (!k.startsWith(head)) continue;
    const n = Number(k.slice(head.length).split('.')[0]);
    if (Number.isInteger(n)) s.add(n);
  }
  return [...s].sort((a, b) => a - b);
}

/** Reads layers-per-block and block counts off LDM UNet keys (prefix already stripped). */
export function ldmUnetLayout(keys: readonly string[], file = '<keys>'): LdmUnetLayout {
  const inputs = indicesOf(keys, 'input_blocks.');
  if (inputs.length === 0 || inputs[0] !== 0) throw new WeightNamingError(file, 'no "input_blocks.0" tensors: not an LDM UNet / ControlNet');
  const maxIn = inputs[inputs.length - 1];
  const firstOp = inputs.find((i) => keys.some((k) => k.startsWith(`input_blocks.${i}.0.op.`)));
  // Block b holds input_blocks b*(L+1)+1 .. b*(L+1)+L and its downsampler at (b+1)*(L+1).
  const layersPerBlock = firstOp === undefined ? maxIn : firstOp - 1;
  if (layersPerBlock < 1) throw new WeightNamingError(file, 'cannot read layers per block off input_blocks');
  const downBlocks = Math.floor((maxIn - 1) / (layersPerBlock + 1)) + 1;
  const outputs = indicesOf(keys, 'output_blocks.');
  const upBlocks = outputs.length ? Math.floor(outputs[outputs.length - 1] / (layersPerBlock + 1)) + 1 : 0;
  if (outputs.length && outputs.length !== upBlocks * (layersPerBlock + 1)) {
    throw new WeightNamingError(file, `output_blocks count ${outputs.length} does not fit ${upBlocks} up blocks of ${layersPerBlock + 1} layers`);
  }
  return { layersPerBlock, downBlocks, upBlocks };
}

/** Maps one LDM UNet key (prefix stripped) to its diffusers name, or undefined if unknown. */
function ldmUnetKey(rest: string, layout: LdmUnetLayout): string | undefined {
  const L = layout.layersPerBlock;
  let m: RegExpMatchArray | null;
  if ((m = rest.match(/^time_embed\.(0|2)\.(.+)$/))) return `time_embedding.linear_${m[1] === '0' ? 1 : 2}.${m[2]}`;
  // SDXL's text_time added embedding (diffusers add_embedding).
  if ((m = rest.match(/^label_emb\.0\.(0|2)\.(.+)$/))) return `add_embedding.linear_${m[1] === '0' ? 1 : 2}.${m[2]}`;
  if ((m = rest.match(/^out\.(0|2)\.(.+)$/))) return `${m[1] === '0' ? 'conv_norm_out' : 'conv_out'}.${m[2]}`;
  if ((m = rest.match(/^input_blocks\.(\d+)\.(\d+)\.(.+)$/))) {
    const i = Number(m[1]);
    const j = Number(m[2]);
    const r = m[3];
    if (i === 0) return j === 0 ? `conv_in.${r}` : undefined;
    const b = Math.floor((i - 1) / (L + 1));
    const l = (i - 1) % (L + 1);
    if (l === L) return j === 0 && r.startsWith('op.') ? `down_blocks.${b}.downsamplers.0.conv.${r.slice(3)}` : undefined;
    if (j === 0) {
      const rr = renameResnet(r);
      return rr && `down_blocks.${b}.resnets.${l}.${rr}`;
    }
    return j === 1 && isTransformerKey(r) ? `down_blocks.${b}.attentions.${l}.${r}` : undefined;
  }
  if ((m = rest.match(/^middle_block\.(\d+)\.(.+)$/))) {
    const j = Number(m[1]);
    const r = m[2];
    if (j % 2 === 0) {
      const rr = renameResnet(r);
      return rr && `mid_block.resnets.${j / 2}.${rr}`;
    }
    return isTransformerKey(r) ? `mid_block.attentions.${(j - 1) / 2}.${r}` : undefined;
  }
  if ((m = rest.match(/^output_blocks\.(\d+)\.(\d+)\.(.+)$/))) {
    const i = Number(m[1]);
    const j = Number(m[2]);
    const r = m[3];
    const b = Math.floor(i / (L + 1));
    const l = i % (L + 1);
    if (j === 0) {
      const rr = renameResnet(r);
      return rr && `up_blocks.${b}.resnets.${l}.${rr}`;
    }
    // The Upsample is the last module of the block's last layer: index 1 without attention, 2 with.
    if (r.startsWith('conv.')) return l === L ? `up_blocks.${b}.upsamplers.0.conv.${r.slice(5)}` : undefined;
    return j === 1 && isTransformerKey(r) ? `up_blocks.${b}.attentions.${l}.${r}` : undefined;
  }
  return undefined;
}

/** LDM UNet keys under `prefix` -> diffusers UNet2DConditionModel keys. */
export function ldmUnetMap(shapes: Shapes, prefix: string = LDM_PREFIX.unet, file = '<keys>'): Map<string, NameEntry> {
  const keys = under(shapes, prefix);
  if (keys.length === 0) throw new WeightNamingError(file, `no tensors under "${prefix}": not an SD1.5 single-file checkpoint (no UNet)`);
  const layout = ldmUnetLayout(keys, file);
  const b = new MapBuilder(file);
  for (const k of keys) {
    const c = ldmUnetKey(k, layout);
    if (c) b.add(c, prefix + k);
    else b.unknown.push(prefix + k);
  }
  return b.finish('an LDM UNet');
}

// ---------------------------------------------------------------------------------------------
// ControlNet (lllyasviel)

/** The prefix of a lllyasviel ControlNet: `control_model.` when present (full-model files), else none. */
export function controlNetPrefix(keys: Iterable<string>): string {
  for (const k of keys) if (k.startsWith(CONTROL_MODEL_PREFIX)) return CONTROL_MODEL_PREFIX;
  return '';
}

/** lllyasviel ControlNet keys -> diffusers ControlNetModel keys. */
export function ldmControlNetMap(shapes: Shapes, prefix: string = controlNetPrefix(shapes.keys()), file = '<keys>'): Map<string, NameEntry> {
  const keys = under(shapes, prefix);
  if (!keys.some((k) => k.startsWith('input_hint_block.'))) {
    throw new WeightNamingError(file, `no "${prefix}input_hint_block.*" tensors: not a lllyasviel ControlNet`);
  }
  const unetKeys = keys.filter((k) => /^(time_embed|input_blocks|middle_block)\./.test(k));
  const layout = ldmUnetLayout(unetKeys, file);
  const hint = indicesOf(keys, 'input_hint_block.');
  const b = new MapBuilder(file);
  for (const k of keys) {
    let c: string | undefined;
    let m: RegExpMatchArray | null;
    if ((m = k.match(/^input_hint_block\.(\d+)\.(.+)$/))) {
      // Convs at even indices with SiLUs between: first = conv_in, last = conv_out, the rest blocks.N.
      const pos = hint.indexOf(Number(m[1]));
      const name = pos === 0 ? 'conv_in' : pos === hint.length - 1 ? 'conv_out' : `blocks.${pos - 1}`;
      c = `controlnet_cond_embedding.${name}.${m[2]}`;
    } else if ((m = k.match(/^zero_convs\.(\d+)\.0\.(.+)$/))) {
      c = `controlnet_down_blocks.${m[1]}.${m[2]}`;
    } else if ((m = k.match(/^middle_block_out\.0\.(.+)$/))) {
      c = `controlnet_mid_block.${m[1]}`;
    } else if (!/^(output_blocks|out)\./.test(k)) {
      c = ldmUnetKey(k, layout);
    }
    if (c) b.add(c, prefix + k);
    else b.unknown.push(prefix + k);
  }
  return b.finish('a lllyasviel ControlNet');
}

// ---------------------------------------------------------------------------------------------
// VAE

/** The [C,C,1,1] attention projections of LDM VAEs are [C,C] linear weights in diffusers. */
function vaeAttentionView(canonical: string, shape: readonly number[] | undefined): readonly number[] | undefined {
  if (!shape || shape.length !== 4 || shape[2] !== 1 || shape[3] !== 1) return undefined;
  return /mid_block\.attentions\.\d+\.(to_q|to_k|to_v|to_out\.0)\.weight$/.test(canonical) ? [shape[0], shape[1]] : undefined;
}

function ldmVaeResnet(r: string): string | undefined {
  const m = r.match(/^(norm1|conv1|norm2|conv2|nin_shortcut)\.(.+)$/);
  if (!m) return undefined;
  return `${m[1] === 'nin_shortcut' ? 'conv_shortcut' : m[1]}.${m[2]}`;
}

const VAE_ATTN: Record<string, string> = { norm: 'group_norm', q: 'to_q', k: 'to_k', v: 'to_v', proj_out: 'to_out.0' };

function ldmVaeKey(rest: string, upBlocks: number): string | undefined {
  let m: RegExpMatchArray | null;
  if ((m = rest.match(/^(quant_conv|post_quant_conv)\.(weight|bias)$/))) return rest;
  if (!(m = rest.match(/^(encoder|decoder)\.(.+)$/))) return undefined;
  const part = m[1];
  const r = m[2];
  if ((m = r.match(/^(conv_in|conv_out)\.(.+)$/))) return `${part}.${r}`;
  if ((m = r.match(/^norm_out\.(.+)$/))) return `${part}.conv_norm_out.${m[1]}`;
  if ((m = r.match(/^mid\.block_(\d+)\.(.+)$/))) {
    const rr = ldmVaeResnet(m[2]);
    return rr && `${part}.mid_block.resnets.${Number(m[1]) - 1}.${rr}`;
  }
  if ((m = r.match(/^mid\.attn_(\d+)\.(norm|q|k|v|proj_out)\.(.+)$/))) return `${part}.mid_block.attentions.${Number(m[1]) - 1}.${VAE_ATTN[m[2]]}.${m[3]}`;
  if (part === 'encoder') {
    if ((m = r.match(/^down\.(\d+)\.block\.(\d+)\.(.+)$/))) {
      const rr = ldmVaeResnet(m[3]);
      return rr && `encoder.down_blocks.${m[1]}.resnets.${m[2]}.${rr}`;
    }
    if ((m = r.match(/^down\.(\d+)\.downsample\.conv\.(.+)$/))) return `encoder.down_blocks.${m[1]}.downsamplers.0.conv.${m[2]}`;
  } else {
    // LDM numbers decoder up blocks from the highest resolution; diffusers from the lowest.
    if ((m = r.match(/^up\.(\d+)\.block\.(\d+)\.(.+)$/))) {
      const rr = ldmVaeResnet(m[3]);
      return rr && `decoder.up_blocks.${upBlocks - 1 - Number(m[1])}.resnets.${m[2]}.${rr}`;
    }
    if ((m = r.match(/^up\.(\d+)\.upsample\.conv\.(.+)$/))) return `decoder.up_blocks.${upBlocks - 1 - Number(m[1])}.upsamplers.0.conv.${m[2]}`;
  }
  return undefined;
}

/** LDM VAE keys under `prefix` -> diffusers AutoencoderKL keys. */
export function ldmVaeMap(shapes: Shapes, prefix: string = LDM_PREFIX.vae, file = '<keys>'): Map<string, NameEntry> {
  const keys = under(shapes, prefix);
  if (keys.length === 0) throw new WeightNamingError(file, `no tensors under "${prefix}": not an SD1.5 single-file checkpoint (no VAE)`);
  const upBlocks = indicesOf(keys, 'decoder.up.').length;
  const b = new MapBuilder(file);
  for (const k of keys) {
    const c = ldmVaeKey(k, upBlocks);
    if (c) b.add(c, prefix + k, vaeAttentionView(c, shapes.get(prefix + k)));
    else b.unknown.push(prefix + k);
  }
  return b.finish('an LDM VAE');
}

const LEGACY_VAE_ATTN: Record<string, string> = { query: 'to_q', key: 'to_k', value: 'to_v', proj_attn: 'to_out.0' };

/** diffusers VAE keys, accepting the older attention names (query/key/value/proj_attn) and 1x1 views. */
export function diffusersVaeMap(shapes: Shapes, file = '<keys>'): Map<string, NameEntry> {
  const b = new MapBuilder(file);
  for (const [k, shape] of shapes) {
    const m = k.match(/^(.*\.mid_block\.attentions\.\d+\.)(query|key|value|proj_attn)\.(.+)$/);
    const c = m ? `${m[1]}${LEGACY_VAE_ATTN[m[2]]}.${m[3]}` : k;
    b.add(c, k, vaeAttentionView(c, shape));
  }
  return b.finish('a diffusers VAE');
}

// ---------------------------------------------------------------------------------------------
// Text encoder

/** `cond_stage_model.transformer.[text_model.]*` -> Hugging Face CLIPTextModel `text_model.*`. */
export function ldmTextMap(shapes: Shapes, prefix: string = LDM_PREFIX.text, file = '<keys>'): Map<string, NameEntry> {
  const keys = under(shapes, prefix);
  if (keys.length === 0) {
    const openClip = [...shapes.keys()].some((k) => k.startsWith('cond_stage_model.model.'));
    throw new WeightNamingError(file, openClip
      ? 'text encoder is OpenCLIP ("cond_stage_model.model.*", SD2.x), only SD1.x CLIP ("cond_stage_model.transformer.*") is supported'
      : `no tensors under "${prefix}": not an SD1.5 single-file checkpoint (no text encoder)`);
  }
  const b = new MapBuilder(file);
  for (const k of keys) {
    let c: string | undefined;
    if (/^text_model\.(embeddings|encoder|final_layer_norm)\./.test(k)) c = k;
    else if (/^(embeddings|encoder|final_layer_norm)\./.test(k)) c = `text_model.${k}`;
    if (c) b.add(c, prefix + k);
    else b.unknown.push(prefix + k);
  }
  return b.finish('an SD1.x CLIP text encoder');
}

// ---------------------------------------------------------------------------------------------
// Sources

/** A file's tensors under the names `nameMap` reads off its key shapes; described as "<path> [what]". */
function renamedFileSource(file: SafetensorsFile | string, what: string, nameMap: (shapes: Shapes, path: string) => NameMap): WeightSource {
  const f = openFile(file);
  return mappedSource(safetensorsSource(f), nameMap(shapesOf(f), f.path), `${f.path} [${what}]`);
}

/** The UNet of a single-file SD1.5 checkpoint, keyed by diffusers names. */
export function ldmUnetSource(file: SafetensorsFile | string): WeightSource {
  return renamedFileSource(file, 'LDM UNet', (shapes, path) => ldmUnetMap(shapes, LDM_PREFIX.unet, path));
}

/** The VAE of a single-file SD1.5 checkpoint (or a standalone LDM VAE file without the prefix). */
export function ldmVaeSource(file: SafetensorsFile | string): WeightSource {
  return renamedFileSource(file, 'LDM VAE', (shapes, path) => {
    // Standalone VAE files (e.g. vae-ft-mse-840000-ema-pruned.safetensors) carry no prefix.
    const prefix = under(shapes, LDM_PREFIX.vae).length > 0 || !shapes.has('decoder.conv_in.weight') ? LDM_PREFIX.vae : '';
    return prefix ? ldmVaeMap(shapes, prefix, path) : ldmVaeMap(new Map([...shapes].filter(([k]) => /^(encoder|decoder|quant_conv|post_quant_conv)\./.test(k))), '', path);
  });
}

/** The CLIP text encoder of a single-file SD1.5 checkpoint, keyed `text_model.*`. */
export function ldmTextSource(file: SafetensorsFile | string): WeightSource {
  return renamedFileSource(file, 'LDM text encoder', (shapes, path) => ldmTextMap(shapes, LDM_PREFIX.text, path));
}

/** A lllyasviel ControlNet (with or without `control_model.`), keyed by diffusers ControlNetModel names. */
export function ldmControlNetSource(file: SafetensorsFile | string): WeightSource {
  return renamedFileSource(file, 'lllyasviel ControlNet', (shapes, path) => ldmControlNetMap(shapes, controlNetPrefix(shapes.keys()), path));
}

export function ldmSource(file: SafetensorsFile | string, component: Component): WeightSource {
  switch (component) {
    case 'unet': return ldmUnetSource(file);
    case 'vae': return ldmVaeSource(file);
    case 'text': return ldmTextSource(file);
    case 'controlnet': return ldmControlNetSource(file);
  }
}

/** Which parts a single-file checkpoint holds (by prefix). */
export function ldmComponents(file: SafetensorsFile | string): Component[] {
  const f = openFile(file);
  const keys = f.keys();
  const out: Component[] = [];
  if (keys.some((k) => k.startsWith(LDM_PREFIX.unet))) out.push('unet');
  if (keys.some((k) => k.startsWith(LDM_PREFIX.vae))) out.push('vae');
  if (keys.some((k) => k.startsWith(LDM_PREFIX.text))) out.push('text');
  if (keys.some((k) => k.startsWith('input_hint_block.') || k.startsWith(`${CONTROL_MODEL_PREFIX}input_hint_block.`))) out.push('controlnet');
  return out;
}

const DIFFUSERS_SUBFOLDER: Record<Component, string[]> = {
  unet: ['unet'],
  vae: ['vae'],
  text: ['text_encoder'],
  controlnet: ['controlnet', ''],
};
const DIFFUSERS_FILES = ['diffusion_pytorch_model.safetensors', 'model.safetensors', 'diffusion_pytorch_model.fp16.safetensors', 'model.fp16.safetensors'];

/** Resolves the weight file(s) of a component in a diffusers folder; a file path is taken as is. */
export function diffusersFiles(path: string, component: Component): string[] {
  if (!existsSync(path)) throw new Error(`${path}: no such file or folder`);
  if (!statSync(path).isDirectory()) return [path];
  const tried: string[] = [];
  const subs = [...DIFFUSERS_SUBFOLDER[component], ...(DIFFUSERS_SUBFOLDER[component].includes('') ? [] : [''])];
  for (const sub of subs) {
    for (const name of DIFFUSERS_FILES) {
      const p = join(path, sub, name);
      tried.push(p);
      if (existsSync(p)) return [p];
      const index = `${p}.index.json`;
      if (existsSync(index)) {
        const weightMap = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: Record<string, string> }).weight_map ?? {};
        return [...new Set(Object.values(weightMap))].map((s) => join(dirname(index), s));
      }
    }
  }
  throw new Error(`${path}: no ${component} weights found in this diffusers folder (looked for ${tried.map((t) => t.slice(path.length + 1)).join(', ')})`);
}

/**
 * A component in diffusers / Hugging Face layout: a folder (pipeline folder or the component's own
 * folder, sharded files included) or a .safetensors file. VAE files get the legacy attention names
 * normalised.
 */
export function diffusersSource(path: string, component: Component): WeightSource {
  const files = diffusersFiles(path, component);
  const sources = files.map((p) => {
    const f = SafetensorsFile.open(p);
    const raw = safetensorsSource(f);
    return component === 'vae' ? mappedSource(raw, diffusersVaeMap(shapesOf(f), f.path), f.path) : raw;
  });
  return sources.length === 1 ? sources[0] : layeredSource(path, ...sources);
}

// ---------------------------------------------------------------------------------------------
// Fixture roles (shared by the parity kinds)

/** Which model a weight role of a fixture case names (`unet`, `vae`, `text_encoder`, `controlnet*`). */
export function componentOfRole(role: string): Component | undefined {
  if (/^unet/.test(role)) return 'unet';
  if (/^vae/.test(role)) return 'vae';
  if (/^text_encoder/.test(role)) return 'text';
  if (/^controlnet/.test(role)) return 'controlnet';
  return undefined;
}

export type WeightsFormatName = 'diffusers' | 'ldm' | 'ldm-sdxl' | 'h94' | 'hf-clip';

/** A standalone VAE file or folder (diffusers `decoder.up_blocks.*` or LDM `decoder.up.*` naming), keyed as diffusers. */
export function vaeFileSource(path: string): WeightSource {
  if (statSync(path).isDirectory()) return diffusersSource(path, 'vae');
  return openWeightFile(path).keys().some((k) => k.startsWith('decoder.up_blocks.')) ? diffusersSource(path, 'vae') : ldmSource(path, 'vae');
}

/**
 * The WeightSource for one file in a stated naming, keyed canonically. Parity handlers should load
 * every role through this, so that `weights-ldm` can re-run their cases with LDM files substituted.
 */
export function sourceFor(path: string, format: WeightsFormatName | string | undefined, component: Component | undefined): WeightSource {
  switch (format) {
    case 'ldm':
    case 'ldm-sdxl': // same UNet / VAE naming; SDXL's text encoders sit under conditioner.embedders.*
      if (!component) throw new Error(`${path}: LDM naming needs to know which model to take from it`);
      return ldmSource(path, component);
    case 'diffusers':
      return component ? diffusersSource(path, component) : safetensorsSource(path);
    case 'hf-clip':
    case 'h94':
    case undefined:
      return safetensorsSource(path);
    default:
      throw new Error(`${path}: unsupported weights format "${format}"`);
  }
}

/** `sourceFor` for a fixture case's weight role. */
export function roleSource(c: { readonly name: string; readonly weights: Record<string, string>; readonly weightsFormat: Record<string, string> }, role: string, component: Component | undefined = componentOfRole(role)): WeightSource {
  const path = c.weights[role];
  if (!path) throw new Error(`${c.name}: case has no "${role}" weights`);
  return sourceFor(path, c.weightsFormat[role], component);
}
