/**
 * LoRA merged into the weights at build time: W' = W + strength * scale * up @ down, for
 * kohya-style files (`lora_unet_*` / `lora_te_*` with lora_down / lora_up / alpha), diffusers /
 * peft files (`*.lora_A.weight` / `*.lora_B.weight`) and the LoRA inside FaceID IP-Adapter files
 * (`ip_adapter.N.to_{q,k,v,out}_lora.{down,up}.weight`, N in attention-processor order).
 * Merged tensors are held in memory (float32) and layered over the original source.
 */
import { RESNET_MODULES } from './names.ts';
import type { Dtype } from './safetensors.ts';
import { memorySource, readWeightFloat32, requireWeight, type WeightSource } from './source.ts';
import { inspectUNet, type UNetStructure } from './unet-structure.ts';

export interface LoraDelta {
  /** canonical key of the base weight, e.g. "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight" */
  readonly target: string;
  readonly down: Float32Array;
  readonly up: Float32Array;
  readonly rank: number;
  readonly scale: number;
}

/** up [out, r] @ down [r, in] (conv LoRA kernels flattened to [r, in*kh*kw]) added into w. */
export function addLowRank(w: Float32Array, up: Float32Array, down: Float32Array, rank: number, scale: number): void {
  const out = up.length / rank;
  const inner = down.length / rank;
  if (out * inner !== w.length) throw new Error(`LoRA shape mismatch: up [${out},${rank}] @ down [${rank},${inner}] does not match a weight of ${w.length} elements`);
  const row = new Float32Array(inner);
  for (let o = 0; o < out; o++) {
    row.fill(0);
    for (let r = 0; r < rank; r++) {
      const u = up[o * rank + r] * scale;
      if (u === 0) continue;
      const d = r * inner;
      for (let i = 0; i < inner; i++) row[i] += u * down[d + i];
    }
    const base = o * inner;
    for (let i = 0; i < inner; i++) w[base + i] += row[i];
  }
}

/** Applies deltas to `base`; returns a source with only the changed tensors (to layer on top). */
export function mergeDeltas(base: WeightSource, deltas: readonly LoraDelta[], description: string): WeightSource {
  const merged = new Map<string, { dtype: Dtype; shape: readonly number[]; bytes: Uint8Array }>();
  const current = new Map<string, Float32Array>();
  for (const d of deltas) {
    let w = current.get(d.target);
    if (!w) {
      const t = requireWeight(base, d.target);
      w = readWeightFloat32(t);
      current.set(d.target, w);
      merged.set(d.target, { dtype: 'F32', shape: t.shape, bytes: new Uint8Array(w.buffer) });
    }
    addLowRank(w, d.up, d.down, d.rank, d.scale);
  }
  return memorySource(description, merged);
}

/** Attention module paths in diffusers' attn_processors order (index i = `ip_adapter.<i>.*`): per transformer block attn1, attn2. */
export function attentionProcessors(unet: UNetStructure): string[] {
  const order: string[] = [];
  for (const l of unet.attn2) {
    order[l.index - 1] = l.attn1;
    order[l.index] = l.path;
  }
  return order;
}

/** FaceID's LoRA (inside the IP-Adapter file), on all attention processors. */
export function ipAdapterLoraDeltas(unet: WeightSource, ip: WeightSource, strength: number, structure: UNetStructure = inspectUNet(unet)): LoraDelta[] {
  const order = attentionProcessors(structure);
  const deltas: LoraDelta[] = [];
  for (const key of ip.keys()) {
    const m = /^(\d+)\.to_(q|k|v|out)_lora\.down\.weight$/.exec(key);
    if (!m) continue;
    const module = order[Number(m[1])];
    if (!module) throw new Error(`${ip.description}: LoRA index ${m[1]} has no attention processor in this UNet (${order.length} processors)`);
    const down = requireWeight(ip, key);
    const up = requireWeight(ip, key.replace('.down.', '.up.'));
    const proj = m[2] === 'out' ? 'to_out.0' : `to_${m[2]}`;
    deltas.push({ target: `${module}.${proj}.weight`, down: readWeightFloat32(down), up: readWeightFloat32(up), rank: down.shape[0], scale: strength });
  }
  return deltas;
}

/** `ip` is the adapter's `ip_adapter.*` tensors with that prefix stripped. */
export function mergeIpAdapterLora(unet: WeightSource, ip: WeightSource, strength: number, structure?: UNetStructure): WeightSource {
  return mergeDeltas(unet, ipAdapterLoraDeltas(unet, ip, strength, structure), `${ip.description} (LoRA merged ×${strength})`);
}

/** The module path a LoRA key names (underscore-joined, kohya style) and its up key, or undefined. */
function loraModule(key: string, prefix: string): { module: string; upKey: string } | undefined {
  if (key.startsWith(prefix) && key.endsWith('.lora_down.weight')) {
    return { module: key.slice(prefix.length, -'.lora_down.weight'.length), upKey: key.replace('.lora_down.', '.lora_up.') };
  }
  // diffusers / peft: `unet.<module>.lora_A.weight` (the text encoders' under `text_encoder.`)
  if (key.endsWith('.lora_A.weight')) {
    return { module: key.slice(0, -'.lora_A.weight'.length).replace(/^(unet|text_encoder)\./, '').replace(/\./g, '_'), upKey: key.replace('.lora_A.', '.lora_B.') };
  }
  // older diffusers attention-processor LoRAs: `unet.<attn>.processor.to_{q,k,v,out}_lora.down.weight`
  const m = /^unet\.(.+)\.processor\.to_(q|k|v|out)_lora\.down\.weight$/.exec(key);
  if (m) return { module: `${m[1]}.${m[2] === 'out' ? 'to_out.0' : `to_${m[2]}`}`.replace(/\./g, '_'), upKey: key.replace('_lora.down.', '_lora.up.') };
  return undefined;
}

/**
 * kohya / diffusers LoRA files. `targets` maps the underscore-joined module path used by kohya
 * ("down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", or for SDXL's UNet the LDM path
 * "input_blocks_4_1_transformer_blocks_0_attn1_to_q") to the canonical weight key.
 */
export function fileLoraDeltas(lora: WeightSource, prefix: 'lora_unet_' | 'lora_te_' | 'lora_te1_' | 'lora_te2_', targets: ReadonlyMap<string, string>, strength: number): LoraDelta[] {
  const deltas: LoraDelta[] = [];
  for (const key of lora.keys()) {
    const named = loraModule(key, prefix);
    if (!named) continue;
    const target = targets.get(named.module);
    if (!target) continue;
    const down = requireWeight(lora, key);
    const up = requireWeight(lora, named.upKey);
    const rank = down.shape[0];
    // kohya stores `<module>.alpha`; peft files usually none (alpha = rank: scale 1). Never read the
    // down matrix itself as alpha (a key that does not end in .lora_down.weight).
    const alphaT = lora.get(key.replace(/\.(lora_down|lora_A)\.weight$/, '.alpha'));
    const alpha = alphaT ? readWeightFloat32(alphaT)[0] : rank;
    deltas.push({ target, down: readWeightFloat32(down), up: readWeightFloat32(up), rank, scale: (strength * alpha) / rank });
  }
  return deltas;
}

/**
 * underscore path -> weight key, for every `.weight` of `base` (kohya's module naming). A UNet also
 * gets its LDM / SGM module paths (`input_blocks_4_1_…`, `middle_block_…`, `output_blocks_…`,
 * `label_emb_0_0`), the names kohya's SDXL trainer writes.
 */
export function kohyaTargets(base: WeightSource): Map<string, string> {
  const m = new Map<string, string>();
  for (const k of base.keys()) if (k.endsWith('.weight')) m.set(k.slice(0, -'.weight'.length).replace(/\./g, '_'), k);
  if (base.get('conv_in.weight') && base.get('time_embedding.linear_1.weight')) {
    const structure = inspectUNet(base);
    for (const k of base.keys()) {
      if (!k.endsWith('.weight')) continue;
      const ldm = ldmUnetModule(k.slice(0, -'.weight'.length), structure);
      if (ldm && !m.has(ldm.replace(/\./g, '_'))) m.set(ldm.replace(/\./g, '_'), k);
    }
  }
  return m;
}

function resnetToLdm(rest: string): string | undefined {
  for (const [ldm, diffusers] of RESNET_MODULES) if (rest === diffusers || rest.startsWith(`${diffusers}.`)) return ldm + rest.slice(diffusers.length);
  return undefined;
}

/**
 * The LDM (SGM) module path of a diffusers UNet module: the inverse of the name table's UNet map
 * (weights/names.ts), with the layer counts taken from the structure. Undefined for paths it does
 * not know.
 */
export function ldmUnetModule(path: string, s: Pick<UNetStructure, 'downBlocks' | 'upBlocks'>): string | undefined {
  const L = s.downBlocks[0]?.resnets ?? 0;
  let m: RegExpExecArray | null;
  if ((m = /^time_embedding\.linear_(1|2)$/.exec(path))) return `time_embed.${m[1] === '1' ? 0 : 2}`;
  if ((m = /^add_embedding\.linear_(1|2)$/.exec(path))) return `label_emb.0.${m[1] === '1' ? 0 : 2}`;
  if (path === 'conv_in') return 'input_blocks.0.0';
  if (path === 'conv_norm_out') return 'out.0';
  if (path === 'conv_out') return 'out.2';
  if ((m = /^down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)(?:\.(.+))?$/.exec(path))) {
    const i = Number(m[1]) * (L + 1) + Number(m[3]) + 1;
    if (m[2] === 'attentions') return `input_blocks.${i}.1${m[4] ? `.${m[4]}` : ''}`;
    const r = m[4] && resnetToLdm(m[4]);
    return r ? `input_blocks.${i}.0.${r}` : undefined;
  }
  if ((m = /^down_blocks\.(\d+)\.downsamplers\.0\.conv$/.exec(path))) return `input_blocks.${(Number(m[1]) + 1) * (L + 1)}.0.op`;
  if ((m = /^mid_block\.(resnets|attentions)\.(\d+)(?:\.(.+))?$/.exec(path))) {
    if (m[1] === 'attentions') return `middle_block.${2 * Number(m[2]) + 1}${m[3] ? `.${m[3]}` : ''}`;
    const r = m[3] && resnetToLdm(m[3]);
    return r ? `middle_block.${2 * Number(m[2])}.${r}` : undefined;
  }
  if ((m = /^up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)(?:\.(.+))?$/.exec(path))) {
    const i = Number(m[1]) * (L + 1) + Number(m[3]);
    if (m[2] === 'attentions') return `output_blocks.${i}.1${m[4] ? `.${m[4]}` : ''}`;
    const r = m[4] && resnetToLdm(m[4]);
    return r ? `output_blocks.${i}.0.${r}` : undefined;
  }
  if ((m = /^up_blocks\.(\d+)\.upsamplers\.0\.conv$/.exec(path))) {
    const b = Number(m[1]);
    // The upsampler follows the block's last layer: after its transformer when it has one.
    return `output_blocks.${b * (L + 1) + L}.${(s.upBlocks[b]?.attentions ?? 0) > 0 ? 2 : 1}.conv`;
  }
  return undefined;
}
