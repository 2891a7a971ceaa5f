/**
 * TAESD / TAESDXL (madebyollin's tiny autoencoder; diffusers AutoencoderTiny): a ~2.4M-parameter
 * decoder and encoder of ReLU conv blocks, no norms and no attention, so a decode costs a few percent
 * of the SD VAE's. Used for per-step previews and optional draft decodes.
 *
 * Decoder  in:  latents [B, Cl, h, w] as the UNet produces them (TAESD's scaling factor is 1.0)
 *          out: image [B, 3, 8h, 8w], nominally [-1, 1], not clamped (same as the VAE decoder)
 * Encoder  in:  image [B, 3, H, W] in [-1, 1]
 *          out: latents [B, Cl, H/8, W/8] (UNet space, no distribution)
 *
 * Canonical names are diffusers' `decoder.layers.N.*` / `encoder.layers.K.*` (nn.Sequential indices).
 * The original taesd.py files (`taesd_decoder.safetensors`, `taesdxl_encoder.safetensors`…) hold the
 * same Sequentials with bare indices; the decoder's are shifted by one because its index 0 is the
 * parameter-free Clamp (diffusers' convert_tiny_autoencoder_to_diffusers.py). taesdSource
 * (engine/weights/taesd.ts) maps them.
 *
 * The layer list is read off the tensors: `layers.i.weight` is a conv, `layers.i.conv.0.weight` a
 * Block, an index without tensors a parameter-free layer. Two facts of taesd.py the tensors cannot
 * show: the encoder's bias-free convs are its stride-2 downsamplers, and in the decoder a
 * parameter-free layer followed by a bias-free conv is the 2x nearest Upsample (any other is a ReLU).
 */
import { GraphBuilder, type BuiltGraph, type Flavour } from '../onnx/builder.ts';
import type { WeightSource } from '../weights/source.ts';
import { conv2d, type Ctx } from './nn.ts';

export type TaesdPart = 'decoder' | 'encoder';

export type TaesdLayer =
  | { readonly kind: 'conv'; readonly index: number; readonly stride: number }
  | { readonly kind: 'block'; readonly index: number; readonly convs: readonly number[]; readonly skip: boolean }
  | { readonly kind: 'relu'; readonly index: number }
  | { readonly kind: 'upsample'; readonly index: number };

export interface TaesdShape {
  readonly part: TaesdPart;
  readonly latentChannels: number;
  readonly imageChannels: number;
  readonly layers: readonly TaesdLayer[];
}

/** DecoderTiny's soft clamp tanh(x / m) * m of the incoming latents (AutoencoderTiny latent_magnitude). */
export const TAESD_LATENT_MAGNITUDE = 3;

export { taesdLayout, taesdSource, type TaesdLayout } from '../weights/taesd.ts';

const LAYER_KEY = /^(decoder|encoder)\.layers\.(\d+)\.(.+)$/;

function layerIndices(w: WeightSource, part: TaesdPart): Map<number, string[]> {
  const byIndex = new Map<number, string[]>();
  for (const key of w.keys()) {
    const m = LAYER_KEY.exec(key);
    if (!m || m[1] !== part) continue;
    const i = Number(m[2]);
    const list = byIndex.get(i) ?? [];
    list.push(m[3]);
    byIndex.set(i, list);
  }
  return byIndex;
}

/** Block = ReLU(conv(x) + skip(x)), conv = Sequential(conv, ReLU, conv, ReLU, conv): the conv indices present. */
function blockConvs(rest: readonly string[]): number[] {
  const idx = new Set<number>();
  for (const r of rest) {
    const m = /^conv\.(\d+)\.weight$/.exec(r);
    if (m) idx.add(Number(m[1]));
  }
  return [...idx].sort((a, b) => a - b);
}

/** The Sequential of `part` as the tensors describe it (throws when the source has none). */
export function inspectTaesd(w: WeightSource, part: TaesdPart): TaesdShape {
  const byIndex = layerIndices(w, part);
  if (byIndex.size === 0) throw new Error(`${w.description}: no "${part}.layers.*" tensors — not a TAESD ${part} (AutoencoderTiny)`);
  const last = Math.max(...byIndex.keys());
  const kinds: Array<'conv' | 'block' | 'none'> = [];
  for (let i = 0; i <= last; i++) {
    const rest = byIndex.get(i) ?? [];
    kinds.push(rest.includes('weight') ? 'conv' : rest.some((r) => r.startsWith('conv.')) ? 'block' : 'none');
  }
  const hasBias = (i: number): boolean => w.get(`${part}.layers.${i}.bias`) !== undefined;
  const layers: TaesdLayer[] = kinds.map((k, i): TaesdLayer => {
    if (k === 'conv') return { kind: 'conv', index: i, stride: part === 'encoder' && !hasBias(i) ? 2 : 1 };
    if (k === 'block') {
      const rest = byIndex.get(i) ?? [];
      return { kind: 'block', index: i, convs: blockConvs(rest), skip: rest.includes('skip.weight') };
    }
    if (part === 'encoder') throw new Error(`${w.description}: encoder.layers.${i} has no tensors; taesd.py's encoder has no parameter-free layers`);
    return kinds[i + 1] === 'conv' && !hasBias(i + 1) ? { kind: 'upsample', index: i } : { kind: 'relu', index: i };
  });
  const first = layers[0];
  const lastLayer = layers[layers.length - 1];
  if (first.kind !== 'conv' || lastLayer.kind !== 'conv') throw new Error(`${w.description}: a TAESD ${part} starts and ends with a conv`);
  const inCh = w.get(`${part}.layers.${first.index}.weight`)!.shape[1];
  const outCh = w.get(`${part}.layers.${lastLayer.index}.weight`)!.shape[0];
  return part === 'decoder'
    ? { part, latentChannels: inCh, imageChannels: outCh, layers }
    : { part, latentChannels: outCh, imageChannels: inCh, layers };
}

/** Output size / input size: 2^upsamplers for the decoder, 2^-downsamplers for the encoder. */
export function taesdScale(shp: TaesdShape): number {
  const n = shp.layers.filter((l) => (l.kind === 'upsample') || (l.kind === 'conv' && l.stride === 2)).length;
  return shp.part === 'decoder' ? 2 ** n : 2 ** -n;
}

function block(ctx: Ctx, prefix: string, x: string, convs: readonly number[], skip: boolean): string {
  const { g } = ctx;
  return g.scope(prefix, () => {
    let h = x;
    convs.forEach((j, k) => {
      h = conv2d(ctx, `${prefix}.conv.${j}`, h);
      if (k < convs.length - 1) h = g.op('Relu', [h]);
    });
    const s = skip ? conv2d(ctx, `${prefix}.skip`, x) : x;
    return g.op('Relu', [g.op('Add', [h, s])]);
  });
}

function upsample(ctx: Ctx, prefix: string, x: string): string {
  const { g } = ctx;
  return g.scope(prefix, () => {
    const scales = g.const(new Float32Array([1, 1, 2, 2]), [4], 'scales2x');
    return g.op('Resize', [x, '', scales], { mode: 'nearest', nearest_mode: 'floor', coordinate_transformation_mode: 'asymmetric' });
  });
}

function layersOf(ctx: Ctx, shp: TaesdShape, x: string): string {
  let h = x;
  for (const l of shp.layers) {
    const prefix = `${shp.part}.layers.${l.index}`;
    if (l.kind === 'conv') h = conv2d(ctx, prefix, h, { stride: l.stride });
    else if (l.kind === 'block') h = block(ctx, prefix, h, l.convs, l.skip);
    else if (l.kind === 'upsample') h = upsample(ctx, prefix, h);
    else h = ctx.g.scope(prefix, () => ctx.g.op('Relu', [h]));
  }
  return h;
}

export interface TaesdGraphOptions {
  readonly flavour?: Flavour;
  /** Soft clamp of the decoder's input; 3 for every published TAESD. */
  readonly latentMagnitude?: number;
}

/** latents -> image in [-1, 1] (unclamped), DecoderTiny.forward. */
export function buildTaesdDecoder(w: WeightSource, opts: TaesdGraphOptions = {}): BuiltGraph {
  const shp = inspectTaesd(w, 'decoder');
  const g = new GraphBuilder('taesd-decoder', opts.flavour ?? 'cpu');
  const ctx: Ctx = { g, w };
  const m = opts.latentMagnitude ?? TAESD_LATENT_MAGNITUDE;
  const latents = g.floatInput('latents', ['batch', shp.latentChannels, 'height', 'width']);
  const clamped = g.op('Mul', [g.op('Tanh', [g.op('Div', [latents, g.scalar(m)])]), g.scalar(m)]);
  const x = layersOf(ctx, shp, clamped);
  // DecoderTiny returns [0, 1]; diffusers' AutoencoderTiny.decode (and this graph) maps it to [-1, 1].
  const image = g.op('Sub', [g.op('Mul', [x, g.scalar(2)]), g.scalar(1)]);
  g.floatOutput('image', image, ['batch', shp.imageChannels, 'image_height', 'image_width']);
  return g.build(`TAESD decoder, ${shp.layers.length} layers, x${taesdScale(shp)}`);
}

/** image in [-1, 1] -> latents, EncoderTiny.forward on (image + 1) / 2. */
export function buildTaesdEncoder(w: WeightSource, opts: TaesdGraphOptions = {}): BuiltGraph {
  const shp = inspectTaesd(w, 'encoder');
  const g = new GraphBuilder('taesd-encoder', opts.flavour ?? 'cpu');
  const ctx: Ctx = { g, w };
  const image = g.floatInput('image', ['batch', shp.imageChannels, 'height', 'width']);
  const unit = g.op('Div', [g.op('Add', [image, g.scalar(1)]), g.scalar(2)]);
  const latents = layersOf(ctx, shp, unit);
  g.floatOutput('latents', latents, ['batch', shp.latentChannels, 'latent_height', 'latent_width']);
  return g.build(`TAESD encoder, ${shp.layers.length} layers, x${taesdScale(shp)}`);
}
