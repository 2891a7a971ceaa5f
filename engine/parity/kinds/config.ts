/** What a case's case.json says beyond the weights: hyper-parameters shapes cannot tell, weight files by role. */
import type { ClipAct } from '../../graphs/clip-text.ts';
import type { UNetConfig } from '../../graphs/unet.ts';
import type { FixtureCase } from '../fixture.ts';

export function unetConfigFromCase(c: FixtureCase): Partial<UNetConfig> {
  // Cases with several models nest the UNet's config under "unet" (or "controlnet").
  const nested = (c.config.unet ?? c.config.controlnet) as Record<string, unknown> | undefined;
  const cfg = nested && typeof nested === 'object' ? nested : (c.config as Record<string, unknown>);
  const out: { -readonly [K in keyof UNetConfig]?: UNetConfig[K] } = {};
  // diffusers' "attention_head_dim" is the number of heads when "num_attention_heads" is null (SD1.5: 8;
  // SDXL: one per down level).
  const heads = (v: unknown): number | number[] | undefined =>
    typeof v === 'number' ? v : Array.isArray(v) && v.every((x) => typeof x === 'number') ? (v as number[]) : undefined;
  out.heads = heads(cfg.num_attention_heads) ?? heads(cfg.attention_head_dim);
  if (out.heads === undefined) delete out.heads;
  if (typeof cfg.addition_time_embed_dim === 'number') out.timeIdDim = cfg.addition_time_embed_dim;
  if (typeof cfg.norm_num_groups === 'number') out.normGroups = cfg.norm_num_groups;
  if (typeof cfg.norm_eps === 'number') out.normEps = cfg.norm_eps;
  if (typeof cfg.flip_sin_to_cos === 'boolean') out.flipSinToCos = cfg.flip_sin_to_cos;
  if (typeof cfg.freq_shift === 'number') out.freqShift = cfg.freq_shift;
  return out;
}

export function configNumber(c: FixtureCase, key: string): number | undefined {
  const v = c.config[key];
  return typeof v === 'number' ? v : undefined;
}

export function configAct(c: FixtureCase): ClipAct | undefined {
  const v = c.config.hidden_act;
  if (v === undefined) return undefined;
  if (v === 'quick_gelu' || v === 'gelu') return v;
  throw new Error(`${c.name}: unsupported hidden_act ${JSON.stringify(v)}`);
}

export function weightFile(c: FixtureCase, role: string): string {
  const p = c.weights[role];
  if (!p) throw new Error(`${c.name}: case.json names no "${role}" weights`);
  return p;
}
