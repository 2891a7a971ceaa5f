/**
 * The tensor-spec type and the layer builders every synthetic model is made of (linear, conv, norm,
 * ResNet block, transformer), in diffusers naming. Each builder appends to a list in checkpoint order:
 * the writer draws random values in that order, so the order is part of what a seed produces.
 */

export interface TensorSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** 'zeros' | 'ones' for norms and biases where random values would break numerics. */
  readonly init?: 'normal' | 'ones' | 'zeros' | 'positions';
}

/** The list a builder appends to. */
export type SpecList = TensorSpec[];

export function linear(o: SpecList, p: string, out: number, inp: number, bias = true): void {
  o.push({ name: `${p}.weight`, shape: [out, inp] });
  if (bias) o.push({ name: `${p}.bias`, shape: [out], init: 'zeros' });
}

export function conv(o: SpecList, p: string, out: number, inp: number, k: number): void {
  o.push({ name: `${p}.weight`, shape: [out, inp, k, k] }, { name: `${p}.bias`, shape: [out], init: 'zeros' });
}

export function norm(o: SpecList, p: string, c: number): void {
  o.push({ name: `${p}.weight`, shape: [c], init: 'ones' }, { name: `${p}.bias`, shape: [c], init: 'zeros' });
}

/** ResnetBlock2D; `temb` absent for the VAE's blocks, which take no time embedding. */
export function resnet(o: SpecList, p: string, cin: number, cout: number, temb?: number): void {
  norm(o, `${p}.norm1`, cin);
  conv(o, `${p}.conv1`, cout, cin, 3);
  if (temb) linear(o, `${p}.time_emb_proj`, cout, temb);
  norm(o, `${p}.norm2`, cout);
  conv(o, `${p}.conv2`, cout, cout, 3);
  if (cin !== cout) conv(o, `${p}.conv_shortcut`, cout, cin, 1);
}

/** How a Transformer2DModel projects in and out: SD1.5's 1×1 convs or SDXL's linear layers. */
export type TransformerProjection = 'conv' | 'linear';

/** Transformer2DModel with `depth` BasicTransformerBlocks (self-attention, cross-attention, GEGLU feed-forward). */
export function transformer(o: SpecList, p: string, c: number, cross: number, depth: number, projection: TransformerProjection): void {
  const project = (name: string) => (projection === 'conv' ? conv(o, name, c, c, 1) : linear(o, name, c, c));
  norm(o, `${p}.norm`, c);
  project(`${p}.proj_in`);
  for (let t = 0; t < depth; t++) {
    const b = `${p}.transformer_blocks.${t}`;
    for (const a of ['attn1', 'attn2']) {
      linear(o, `${b}.${a}.to_q`, c, c, false);
      linear(o, `${b}.${a}.to_k`, c, a === 'attn1' ? c : cross, false);
      linear(o, `${b}.${a}.to_v`, c, a === 'attn1' ? c : cross, false);
      linear(o, `${b}.${a}.to_out.0`, c, c);
    }
    linear(o, `${b}.ff.net.0.proj`, c * 8, c);
    linear(o, `${b}.ff.net.2`, c, c * 4);
    for (const n of ['norm1', 'norm2', 'norm3']) norm(o, `${b}.${n}`, c);
  }
  project(`${p}.proj_out`);
}
