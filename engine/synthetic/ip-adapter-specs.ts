/**
 * Key names and shapes of h94 IP-Adapter files (base ImageProjModel, FaceID MLPProjModel with its
 * attention LoRA) for a UNet of either family: the pieces, per attention processor, that the SD1.5
 * and SDXL builders put together (specs.ts, sdxl-specs.ts).
 */
import { linear, norm, type SpecList, type TensorSpec } from './spec-layers.ts';
import { attn2Channels, type UNetTopology } from './unet-specs.ts';

/** ImageProjModel: image embedding → `tokens` tokens of the cross-attention width. */
function imageProjection(o: SpecList, cross: number, imageEmbedDim: number, tokens: number): void {
  linear(o, 'image_proj.proj', tokens * cross, imageEmbedDim);
  norm(o, 'image_proj.norm', cross);
}

/** FaceID's MLPProjModel: face embedding → hidden → `tokens` tokens of the cross-attention width. */
export function faceIdProjection(o: SpecList, cross: number, faceDim: number, hidden: number, tokens: number): void {
  linear(o, 'image_proj.proj.0', hidden, faceDim);
  linear(o, 'image_proj.proj.2', tokens * cross, hidden);
  norm(o, 'image_proj.norm', cross);
}

/** to_k_ip / to_v_ip of the attn2 processor `l` (h94 index 2l + 1), output width `c`. */
export function ipKeyValue(o: SpecList, l: number, c: number, cross: number): void {
  linear(o, `ip_adapter.${2 * l + 1}.to_k_ip`, c, cross, false);
  linear(o, `ip_adapter.${2 * l + 1}.to_v_ip`, c, cross, false);
}

/** FaceID's LoRA on transformer block `l`'s two processors: attn1 (h94 index 2l) and attn2 (2l + 1). */
export function faceIdLora(o: SpecList, l: number, c: number, cross: number, rank: number): void {
  for (const [i, kvIn] of [[2 * l, c], [2 * l + 1, cross]] as const) {
    for (const [proj, inp] of [['to_q', c], ['to_k', kvIn], ['to_v', kvIn], ['to_out', c]] as const) {
      o.push({ name: `ip_adapter.${i}.${proj}_lora.down.weight`, shape: [rank, inp] }, { name: `ip_adapter.${i}.${proj}_lora.up.weight`, shape: [c, rank] });
    }
  }
}

/** h94 base IP-Adapter (ImageProjModel + to_k_ip / to_v_ip per attn2) for a UNet of this topology. */
export function ipAdapterBaseTopologySpecs(t: UNetTopology, imageEmbedDim: number, tokens: number): TensorSpec[] {
  const o: SpecList = [];
  imageProjection(o, t.crossAttentionDim, imageEmbedDim, tokens);
  attn2Channels(t).forEach((c, l) => ipKeyValue(o, l, c, t.crossAttentionDim));
  return o;
}
