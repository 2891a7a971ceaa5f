/** Blocks shared by the UNet, ControlNet and VAE (diffusers module names). */
import { conv2d, groupNorm, has, join, linear, siluOf, type Ctx } from './nn.ts';

export interface NormConfig {
  readonly groups: number;
  readonly eps: number;
}

/**
 * ResnetBlock2D: norm1 → SiLU → conv1 (+ time_emb_proj(SiLU(temb))) → norm2 → SiLU → conv2,
 * plus the input (through conv_shortcut when channels change).
 */
export function resnetBlock(ctx: Ctx, prefix: string, x: string, norm: NormConfig, tembSilu?: string): string {
  const { g } = ctx;
  return g.scope(prefix, () => {
    let h = groupNorm(ctx, join(prefix, 'norm1'), x, norm.groups, norm.eps, true);
    h = conv2d(ctx, join(prefix, 'conv1'), h);
    if (tembSilu && has(ctx, join(prefix, 'time_emb_proj.weight'))) {
      const t = linear(ctx, join(prefix, 'time_emb_proj'), tembSilu);
      h = g.op('Add', [h, g.op('Unsqueeze', [t, g.ints([2, 3])])]);
    }
    h = groupNorm(ctx, join(prefix, 'norm2'), h, norm.groups, norm.eps, true);
    h = conv2d(ctx, join(prefix, 'conv2'), h);
    const skip = has(ctx, join(prefix, 'conv_shortcut.weight')) ? conv2d(ctx, join(prefix, 'conv_shortcut'), x, { padding: 0 }) : x;
    return g.op('Add', [skip, h]);
  });
}

export { siluOf };
