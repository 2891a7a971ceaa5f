/**
 * ControlNetModel (diffusers naming; lllyasviel files go through the LDM name table first).
 * The encoder half of the UNet plus the conditioning embedding and zero convs. The per-residual
 * scale is an input, so conditioning scale and guess mode need no rebuild.
 *
 * Inputs:  sample, timestep f32 [B], encoder_hidden_states, (SDXL) text_embeds, time_ids, controlnet_cond [B,3,8h,8w] in [0,1],
 *          conditioning_scale [N+1] (one weight per residual, mid last)
 * Outputs: down_residual_0..N-1, mid_residual (already scaled), one per `skips[i]` of its structure, then
 *          `mid`; `controlNetMismatch` tells whether they fit a UNet's inputs.
 */
import { GraphBuilder, type BuiltGraph, type Flavour } from '../onnx/builder.ts';
import type { WeightSource } from '../weights/source.ts';
import { inspectUNet, UNET_IO, type UNetStructure } from '../weights/unet-structure.ts';
import { conv2d, join, shape, siluOf, type Ctx } from './nn.ts';
import { downAndMid, stepEmbedding, stepInputs, unetDefaults, type UNetConfig, type UNetCtx } from './unet.ts';

/** Guess mode's per-residual weights: logspace(-1, 0, n) (mid last), as diffusers does. */
export function guessModeWeights(n: number): number[] {
  return Array.from({ length: n }, (_, k) => 10 ** (-1 + k / (n - 1)));
}

export function controlScales(n: number, scale: number, guessMode: boolean): Float32Array {
  const w = guessMode ? guessModeWeights(n) : new Array<number>(n).fill(1);
  return Float32Array.from(w, (x) => x * scale);
}

/** controlnet_cond_embedding: conv_in → SiLU → (conv → SiLU)* with every second conv stride 2 → conv_out. */
function conditioningEmbedding(ctx: Ctx, cond: string): string {
  const { g } = ctx;
  return g.scope('controlnet_cond_embedding', () => {
    let h = siluOf(g, conv2d(ctx, 'controlnet_cond_embedding.conv_in', cond));
    for (let i = 0; ctx.w.get(`controlnet_cond_embedding.blocks.${i}.weight`); i++) {
      h = siluOf(g, conv2d(ctx, `controlnet_cond_embedding.blocks.${i}`, h, { stride: i % 2 === 1 ? 2 : 1, padding: 1 }));
    }
    return conv2d(ctx, 'controlnet_cond_embedding.conv_out', h);
  });
}

/**
 * The modules that make a ControlNet a Union model (several control types through one network: a task
 * embedding and a transformer over the conditions). Building it as a plain ControlNet would silently
 * ignore them, so it is refused by name.
 */
export function unionControlNetKeys(w: Pick<WeightSource, 'keys'>): string[] {
  const found = new Set<string>();
  for (const k of w.keys()) {
    const m = /^(task_embedding|transformer_layes|spatial_ch_projs|control_add_embedding)\b/.exec(k);
    if (m) found.add(m[1]);
  }
  return [...found];
}

export function buildControlNet(w: WeightSource, opts: { flavour: Flavour; config?: Partial<UNetConfig> }): BuiltGraph {
  if (!w.get('controlnet_cond_embedding.conv_in.weight')) {
    throw new Error(`${w.description}: not a ControlNet (no "controlnet_cond_embedding.conv_in.weight"; an lllyasviel file needs the LDM name table)`);
  }
  const union = unionControlNetKeys(w);
  if (union.length) throw new Error(`${w.description}: a ControlNet-Union model (xinsir controlnet-union-sdxl-1.0 / promax: ${union.join(', ')}) is not supported yet; use a single-type ControlNet (openpose, canny, depth)`);
  const shp = inspectUNet(w);
  const cfg = { ...unetDefaults(shp), ...opts.config };
  const g = new GraphBuilder('controlnet', opts.flavour);
  const ctx: UNetCtx = { g, w, cfg, shp, norm: { groups: cfg.normGroups, eps: cfg.normEps } };
  // SDXL ControlNets take text_embeds / time_ids too (their own add_embedding).
  const inputs = stepInputs(g, shp);
  const { sample, context } = inputs;
  const condChannels = shape(ctx, 'controlnet_cond_embedding.conv_in.weight')[1];
  const cond = g.floatInput('controlnet_cond', ['batch', condChannels, 'cond_height', 'cond_width']);
  const nResiduals = shp.skips.length + 1;
  const scales = g.floatInput('conditioning_scale', [nResiduals]);

  const tembSilu = stepEmbedding(ctx, inputs);
  const h0 = g.op('Add', [conv2d(ctx, 'conv_in', sample), conditioningEmbedding(ctx, cond)]);
  const { skips, mid } = downAndMid(ctx, shp, h0, tembSilu, context);
  const scaleAt = (k: number) => g.op('Gather', [scales, g.ints([k])], { axis: 0 });
  skips.forEach((s, k) => {
    const r = g.op('Mul', [conv2d(ctx, join('controlnet_down_blocks', k), s, { padding: 0 }), scaleAt(k)]);
    g.floatOutput(UNET_IO.downResidual(k), r, ['batch', shp.skips[k].channels, `h${k}`, `w${k}`]);
  });
  const m = g.op('Mul', [conv2d(ctx, 'controlnet_mid_block', mid, { padding: 0 }), scaleAt(skips.length)]);
  g.floatOutput(UNET_IO.midResidual, m, ['batch', shp.mid.channels, 'hm', 'wm']);
  return g.build(`ControlNet (${shp.blockChannels.join(',')}), ${nResiduals} residuals`);
}

/**
 * Why a ControlNet's residuals cannot feed this UNet (undefined when they can): one residual per skip,
 * each of the skip's channel count and downsampling, and the mid block's. An SDXL ControlNet given to an
 * SD1.5 checkpoint fails here, naming the first residual that differs.
 */
export function controlNetMismatch(control: UNetStructure, unet: UNetStructure): string | undefined {
  if (control.skips.length !== unet.skips.length) return `it has ${control.skips.length + 1} residuals; the checkpoint's UNet takes ${unet.skips.length + 1}: it was trained for another model family`;
  const bad = unet.skips.findIndex((s, i) => s.channels !== control.skips[i].channels || s.downsamples !== control.skips[i].downsamples);
  if (bad >= 0) return `its residual ${bad} has ${control.skips[bad].channels} channels; the UNet's ${unet.skips[bad].source} has ${unet.skips[bad].channels}`;
  if (control.mid.channels !== unet.mid.channels) return `its mid residual has ${control.mid.channels} channels; the UNet's mid block has ${unet.mid.channels}`;
  if (control.crossAttentionDim !== unet.crossAttentionDim) return `it takes context of width ${control.crossAttentionDim}; the checkpoint's text encoder gives ${unet.crossAttentionDim}`;
  return undefined;
}
