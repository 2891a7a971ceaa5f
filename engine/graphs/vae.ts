/**
 * AutoencoderKL (SD VAE) decoder and encoder, diffusers module tree. LDM single-file VAEs go
 * through the name table (engine/weights/names.ts) first, so one builder serves both.
 *
 * Decoder  in:  latents [B, Cl, h, w] in UNet space (the graph divides by the scaling factor)
 *          out: image [B, 3, 8h, 8w], nominally [-1, 1], not clamped
 * Encoder  in:  image [B, 3, H, W] in [-1, 1] (H, W multiples of 8)
 *          out: latent_mean, latent_logvar (unclamped) [B, Cl, H/8, W/8],
 *               latents_scaled = (mean - shift) * scaling_factor (UNet space)
 *
 * Graph I/O is float32 in every flavour (fp16 flavours cast inside), like the UNet. The SD decoder
 * overflows in fp16: see graphFlavour (engine/graphs/flavour.ts) for the flavour it should get.
 * Channels, block and layer counts come from the tensors. Norm groups cannot be read off shapes: a
 * config argument (SD1.5 default 32). The pixel conversion (image -> RGB(A) uint8 and back) is
 * plain TypeScript below.
 *
 * Large images: `runTiled` runs a VAE graph tile by tile (overlapping tiles, linear feathering)
 * to bound memory; the mid-block attention and GroupNorm statistics are then per tile, so the
 * result differs slightly from a whole-image pass (as with diffusers' enable_tiling).
 */
import { GraphBuilder, type BuiltGraph, type Flavour } from '../onnx/builder.ts';
import type { WeightSource } from '../weights/source.ts';
import { resnetBlock, type NormConfig } from './blocks.ts';
import { attention, conv2d, fromTokens, groupNorm, has, join, linear, shape, siluOf, toTokens, type Ctx } from './nn.ts';

export interface VaeConfig {
  /** Latent scaling (SD1.5: 0.18215). */
  readonly scalingFactor: number;
  /** Latent shift (SD1.5: none = 0; SD3/Flux style VAEs use one). */
  readonly shiftFactor: number;
  /** GroupNorm groups (SD: 32; not recoverable from shapes). */
  readonly groups: number;
  readonly eps: number;
}

export const SD15_VAE: VaeConfig = { scalingFactor: 0.18215, shiftFactor: 0, groups: 32, eps: 1e-6 };

/** The architecture as the tensors describe it. */
export interface VaeShape {
  readonly latentChannels: number;
  readonly imageChannels: number;
  /** Encoder down blocks: resnets each, and whether a downsampler follows. */
  readonly down: Array<{ resnets: number; downsample: boolean }>;
  /** Decoder up blocks (diffusers order: lowest resolution first). */
  readonly up: Array<{ resnets: number; upsample: boolean }>;
}

function countResnets(w: WeightSource, prefix: string): number {
  let n = 0;
  while (w.get(`${prefix}.${n}.conv1.weight`)) n++;
  return n;
}

function requireKey(w: WeightSource, key: string, what: string): readonly number[] {
  const t = w.get(key);
  if (!t) throw new Error(`${w.description}: missing tensor "${key}" — not an SD VAE ${what} in diffusers naming (wrong file for the VAE role? single-file checkpoints need the LDM name table)`);
  return t.shape;
}

/** Reads block structure off the tensors of `part` ('decoder' or 'encoder'). */
export function inspectVae(w: WeightSource, part: 'decoder' | 'encoder'): VaeShape {
  const down: VaeShape['down'] = [];
  const up: VaeShape['up'] = [];
  let latentChannels = 0;
  let imageChannels = 0;
  if (part === 'decoder') {
    latentChannels = requireKey(w, 'decoder.conv_in.weight', 'decoder')[1];
    imageChannels = requireKey(w, 'decoder.conv_out.weight', 'decoder')[0];
    requireKey(w, 'decoder.mid_block.resnets.0.conv1.weight', 'decoder');
    for (let i = 0; w.get(`decoder.up_blocks.${i}.resnets.0.conv1.weight`); i++) {
      up.push({ resnets: countResnets(w, `decoder.up_blocks.${i}.resnets`), upsample: !!w.get(`decoder.up_blocks.${i}.upsamplers.0.conv.weight`) });
    }
    if (up.length === 0) requireKey(w, 'decoder.up_blocks.0.resnets.0.conv1.weight', 'decoder');
  } else {
    imageChannels = requireKey(w, 'encoder.conv_in.weight', 'encoder')[1];
    const moments = requireKey(w, w.get('quant_conv.weight') ? 'quant_conv.weight' : 'encoder.conv_out.weight', 'encoder')[0];
    latentChannels = moments / 2;
    requireKey(w, 'encoder.mid_block.resnets.0.conv1.weight', 'encoder');
    for (let i = 0; w.get(`encoder.down_blocks.${i}.resnets.0.conv1.weight`); i++) {
      down.push({ resnets: countResnets(w, `encoder.down_blocks.${i}.resnets`), downsample: !!w.get(`encoder.down_blocks.${i}.downsamplers.0.conv.weight`) });
    }
    if (down.length === 0) requireKey(w, 'encoder.down_blocks.0.resnets.0.conv1.weight', 'encoder');
  }
  return { latentChannels, imageChannels, down, up };
}

interface VaeCtx extends Ctx {
  readonly norm: NormConfig;
}

/** Single-head self-attention over the H*W tokens with a residual (diffusers Attention, VAE mid block). */
function midAttention(ctx: VaeCtx, prefix: string, x: string): string {
  const { g } = ctx;
  return g.scope(prefix, () => {
    const [c] = shape(ctx, join(prefix, 'group_norm.weight'));
    const normed = groupNorm(ctx, join(prefix, 'group_norm'), x, ctx.norm.groups, ctx.norm.eps);
    const t = toTokens(g, normed, c);
    const q = linear(ctx, join(prefix, 'to_q'), t);
    const k = linear(ctx, join(prefix, 'to_k'), t);
    const v = linear(ctx, join(prefix, 'to_v'), t);
    // heads = C / attention_head_dim with attention_head_dim = C: one head, scale C^-1/2.
    const a = attention(g, q, k, v, 1, c, { longQueries: true });
    const o = linear(ctx, join(prefix, 'to_out.0'), a);
    return g.op('Add', [fromTokens(g, o, x), x]);
  });
}

function midBlock(ctx: VaeCtx, prefix: string, x: string): string {
  let h = resnetBlock(ctx, `${prefix}.resnets.0`, x, ctx.norm);
  if (has(ctx, `${prefix}.attentions.0.to_q.weight`)) h = midAttention(ctx, `${prefix}.attentions.0`, h);
  return resnetBlock(ctx, `${prefix}.resnets.1`, h, ctx.norm);
}

function upsample2x(ctx: VaeCtx, prefix: string, x: string): string {
  const { g } = ctx;
  return g.scope(prefix, () => {
    const scales = g.const(new Float32Array([1, 1, 2, 2]), [4], 'scales2x');
    const up = g.op('Resize', [x, '', scales], { mode: 'nearest', nearest_mode: 'floor', coordinate_transformation_mode: 'asymmetric' });
    return conv2d(ctx, `${prefix}.conv`, up);
  });
}

/** Downsample2D of the VAE: pad (0,1,0,1) (right and bottom), then a stride-2 3x3 conv without padding. */
function downsample(ctx: VaeCtx, prefix: string, x: string): string {
  const { g, w } = ctx;
  return g.scope(prefix, () => {
    const key = `${prefix}.conv`;
    const ws = shape(ctx, `${key}.weight`);
    const inputs = [x, g.weight(w, `${key}.weight`)];
    if (has(ctx, `${key}.bias`)) inputs.push(g.weight(w, `${key}.bias`));
    return g.op('Conv', inputs, { kernel_shape: [ws[2], ws[3]], strides: [2, 2], pads: [0, 0, 1, 1] });
  });
}

function resolveConfig(config: Partial<VaeConfig> | undefined): VaeConfig {
  return { ...SD15_VAE, ...config };
}

/** Groups cannot be read off shapes, but a wrong count is detectable when it does not divide the channels. */
function checkGroups(w: WeightSource, cfg: VaeConfig, part: 'decoder' | 'encoder'): void {
  for (const key of w.keys()) {
    if (!key.startsWith(`${part}.`) || !/(norm1|norm2|group_norm|conv_norm_out)\.weight$/.test(key)) continue;
    const [c] = w.get(key)!.shape;
    if (c % cfg.groups !== 0) {
      throw new Error(`${w.description}: GroupNorm with ${cfg.groups} groups cannot normalise ${c} channels (${key.slice(0, -'.weight'.length)}); pass the VAE's norm_num_groups as config.groups`);
    }
  }
}

/** Nominal output size ratio: 2^(number of up/down samplers), 8 for SD. */
export function vaeScale(shp: VaeShape): number {
  return 2 ** (shp.up.length ? shp.up.filter((b) => b.upsample).length : shp.down.filter((b) => b.downsample).length);
}

export interface VaeGraphOptions {
  readonly flavour?: Flavour;
  readonly config?: Partial<VaeConfig>;
}

/** What both halves' builders start from: the config, the half's shape (checked), and a fresh `vae-<part>` graph. */
function startVaePart(w: WeightSource, opts: VaeGraphOptions, part: 'decoder' | 'encoder'): { cfg: VaeConfig; shp: VaeShape; ctx: VaeCtx; g: GraphBuilder } {
  const cfg = resolveConfig(opts.config);
  const shp = inspectVae(w, part);
  checkGroups(w, cfg, part);
  const g = new GraphBuilder(`vae-${part}`, opts.flavour ?? 'cpu');
  return { cfg, shp, ctx: { g, w, norm: { groups: cfg.groups, eps: cfg.eps } }, g };
}

/** latents (UNet space) -> image in [-1, 1] (unclamped). */
export function buildVaeDecoder(w: WeightSource, opts: VaeGraphOptions = {}): BuiltGraph {
  const { cfg, shp, ctx, g } = startVaePart(w, opts, 'decoder');
  const latents = g.floatInput('latents', ['batch', shp.latentChannels, 'height', 'width']);
  let z = g.op('Div', [latents, g.scalar(cfg.scalingFactor)]);
  if (cfg.shiftFactor !== 0) z = g.op('Add', [z, g.scalar(cfg.shiftFactor)]);
  if (has(ctx, 'post_quant_conv.weight')) z = conv2d(ctx, 'post_quant_conv', z, { padding: 0 });
  let h = conv2d(ctx, 'decoder.conv_in', z);
  h = midBlock(ctx, 'decoder.mid_block', h);
  shp.up.forEach((b, i) => {
    for (let j = 0; j < b.resnets; j++) h = resnetBlock(ctx, `decoder.up_blocks.${i}.resnets.${j}`, h, ctx.norm);
    if (b.upsample) h = upsample2x(ctx, `decoder.up_blocks.${i}.upsamplers.0`, h);
  });
  h = groupNorm(ctx, 'decoder.conv_norm_out', h, cfg.groups, cfg.eps, true);
  h = conv2d(ctx, 'decoder.conv_out', h);
  g.floatOutput('image', h, ['batch', shp.imageChannels, 'image_height', 'image_width']);
  return g.build(`SD VAE decoder, ${shp.up.length} up blocks, scaling ${cfg.scalingFactor}`);
}

/** image in [-1, 1] -> latent_mean, latent_logvar, latents_scaled. */
export function buildVaeEncoder(w: WeightSource, opts: VaeGraphOptions = {}): BuiltGraph {
  const { cfg, shp, ctx, g } = startVaePart(w, opts, 'encoder');
  const image = g.floatInput('image', ['batch', shp.imageChannels, 'height', 'width']);
  let h = conv2d(ctx, 'encoder.conv_in', image);
  shp.down.forEach((b, i) => {
    for (let j = 0; j < b.resnets; j++) h = resnetBlock(ctx, `encoder.down_blocks.${i}.resnets.${j}`, h, ctx.norm);
    if (b.downsample) h = downsample(ctx, `encoder.down_blocks.${i}.downsamplers.0`, h);
  });
  h = midBlock(ctx, 'encoder.mid_block', h);
  h = groupNorm(ctx, 'encoder.conv_norm_out', h, cfg.groups, cfg.eps, true);
  h = conv2d(ctx, 'encoder.conv_out', h);
  if (has(ctx, 'quant_conv.weight')) h = conv2d(ctx, 'quant_conv', h, { padding: 0 });
  const c = shp.latentChannels;
  const [mean, logvar] = g.opN('Split', [h, g.ints([c, c])], 2, { axis: 1 });
  let scaled = cfg.shiftFactor !== 0 ? g.op('Sub', [mean, g.scalar(cfg.shiftFactor)]) : mean;
  scaled = g.op('Mul', [scaled, g.scalar(cfg.scalingFactor)]);
  const dims = ['batch', c, 'latent_height', 'latent_width'];
  g.floatOutput('latent_mean', mean, dims);
  g.floatOutput('latent_logvar', logvar, dims);
  g.floatOutput('latents_scaled', scaled, dims);
  return g.build(`SD VAE encoder, ${shp.down.length} down blocks, scaling ${cfg.scalingFactor}`);
}

// ---------------------------------------------------------------------------------------------
// Pixels

const toByte = (x: number): number => Math.round(Math.min(1, Math.max(0, x / 2 + 0.5)) * 255);

/**
 * Decoder output NCHW [-1, 1] -> NHWC uint8 RGB for all images: round(clamp(x/2+0.5, 0, 1)*255).
 * `shape` is [N, C, H, W]; C channels are kept (3 for SD).
 */
export function imageToUint8NHWC(image: ArrayLike<number>, shape: readonly number[]): Uint8Array {
  const [n, c, h, w] = shape;
  const out = new Uint8Array(n * h * w * c);
  const plane = h * w;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const src = (b * c + ch) * plane;
      for (let p = 0; p < plane; p++) out[(b * plane + p) * c + ch] = toByte(image[src + p]);
    }
  }
  return out;
}

/** One decoded image (`index` in the batch) -> RGBA uint8 (alpha 255), row-major, for the wire / a layer. */
export function imageToRgba(image: ArrayLike<number>, shape: readonly number[], index = 0): Uint8ClampedArray {
  const [, c, h, w] = shape;
  if (c < 3) throw new Error(`imageToRgba: need 3 channels, got ${c}`);
  const plane = h * w;
  const base = index * c * plane;
  const out = new Uint8ClampedArray(plane * 4);
  for (let p = 0; p < plane; p++) {
    out[p * 4] = toByte(image[base + p]);
    out[p * 4 + 1] = toByte(image[base + plane + p]);
    out[p * 4 + 2] = toByte(image[base + 2 * plane + p]);
    out[p * 4 + 3] = 255;
  }
  return out;
}

/** RGBA (or RGB with channels=3) uint8 HWC -> the encoder's input [1, 3, H, W] in [-1, 1]. */
export function rgbaToImage(pixels: ArrayLike<number>, width: number, height: number, channels = 4): Float32Array {
  const plane = width * height;
  if (pixels.length < plane * channels) throw new Error(`rgbaToImage: ${pixels.length} bytes < ${width}x${height}x${channels}`);
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let ch = 0; ch < 3; ch++) out[ch * plane + p] = pixels[p * channels + ch] / 127.5 - 1;
  }
  return out;
}


// ---------------------------------------------------------------------------------------------
// Tiling

export interface Planar {
  readonly data: Float32Array;
  /** [N, C, H, W] */
  readonly shape: readonly number[];
}

/** Runs a graph on one NCHW tile; every output has the same spatial size (input size * scale). */
export type TileRunner = (tile: Planar) => Promise<Record<string, Planar>>;

export interface TileOptions {
  /** Tile edge in input pixels (decode: latent pixels, e.g. 64 = 512 px; encode: image pixels, multiple of 8). */
  readonly tile: number;
  /** Overlap between neighbouring tiles in input pixels (< tile). */
  readonly overlap: number;
  /** Output size / input size: 8 for the SD decoder, 1/8 for the encoder. */
  readonly scale: number;
}

function tileStarts(size: number, tile: number, overlap: number): number[] {
  if (size <= tile) return [0];
  const stride = tile - overlap;
  const starts: number[] = [];
  for (let s = 0; s + tile < size; s += stride) starts.push(s);
  starts.push(size - tile); // last tile flush with the edge
  return [...new Set(starts)];
}

/** Linear ramp over `ramp` pixels at the edges that touch another tile. */
function feather(len: number, ramp: number, rampStart: boolean, rampEnd: boolean): Float32Array {
  const w = new Float32Array(len).fill(1);
  if (ramp <= 0) return w;
  for (let i = 0; i < len; i++) {
    if (rampStart && i < ramp) w[i] = Math.min(w[i], (i + 0.5) / ramp);
    if (rampEnd && i >= len - ramp) w[i] = Math.min(w[i], (len - i - 0.5) / ramp);
  }
  return w;
}

/**
 * Runs `run` over overlapping tiles of `input` and blends the outputs with linear feathering in the
 * overlaps. With one tile (input no larger than `tile`) it is exactly `run(input)`.
 */
export async function runTiled(run: TileRunner, input: Planar, opts: TileOptions): Promise<Record<string, Planar>> {
  const [n, c, h, w] = input.shape;
  const { tile, overlap, scale } = opts;
  if (!(overlap >= 0 && overlap < tile)) throw new Error(`runTiled: overlap ${overlap} must be in [0, tile ${tile})`);
  if (!Number.isInteger(tile * scale) || !Number.isInteger(overlap * scale) || !Number.isInteger(h * scale) || !Number.isInteger(w * scale)) {
    throw new Error(`runTiled: tile ${tile}, overlap ${overlap} and size ${h}x${w} must map to whole output pixels at scale ${scale}`);
  }
  const ys = tileStarts(h, tile, overlap);
  const xs = tileStarts(w, tile, overlap);
  if (ys.length === 1 && xs.length === 1) return run(input);
  const oh = h * scale;
  const ow = w * scale;
  const ramp = overlap * scale;
  const acc: Record<string, { data: Float32Array; channels: number }> = {};
  const weight = new Float32Array(oh * ow);
  for (const y0 of ys) {
    for (const x0 of xs) {
      const th = Math.min(tile, h);
      const tw = Math.min(tile, w);
      const t = new Float32Array(n * c * th * tw);
      for (let b = 0; b < n * c; b++) {
        for (let y = 0; y < th; y++) t.set(input.data.subarray(b * h * w + (y0 + y) * w + x0, b * h * w + (y0 + y) * w + x0 + tw), b * th * tw + y * tw);
      }
      const out = await run({ data: t, shape: [n, c, th, tw] });
      const toh = th * scale;
      const tow = tw * scale;
      const wy = feather(toh, ramp, y0 > 0, y0 + th < h);
      const wx = feather(tow, ramp, x0 > 0, x0 + tw < w);
      const oy0 = y0 * scale;
      const ox0 = x0 * scale;
      for (let y = 0; y < toh; y++) for (let x = 0; x < tow; x++) weight[(oy0 + y) * ow + ox0 + x] += wy[y] * wx[x];
      for (const [name, o] of Object.entries(out)) {
        const [on, oc, ph, pw] = o.shape;
        if (on !== n || ph !== toh || pw !== tow) throw new Error(`runTiled: output "${name}" is [${o.shape}], expected [${n},C,${toh},${tow}]`);
        const a = (acc[name] ??= { data: new Float32Array(n * oc * oh * ow), channels: oc });
        for (let b = 0; b < n * oc; b++) {
          for (let y = 0; y < toh; y++) {
            const src = b * toh * tow + y * tow;
            const dst = b * oh * ow + (oy0 + y) * ow + ox0;
            const wyy = wy[y];
            for (let x = 0; x < tow; x++) a.data[dst + x] += o.data[src + x] * wyy * wx[x];
          }
        }
      }
    }
  }
  const result: Record<string, Planar> = {};
  for (const [name, a] of Object.entries(acc)) {
    for (let b = 0; b < n * a.channels; b++) for (let p = 0; p < oh * ow; p++) a.data[b * oh * ow + p] /= weight[p];
    result[name] = { data: a.data, shape: [n, a.channels, oh, ow] };
  }
  return result;
}
