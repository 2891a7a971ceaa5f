/**
 * The projection-graph inputs for one style reference, by adapter variant: CLIP image embeddings
 * (base), penultimate CLIP hidden states (plus), the InsightFace identity embedding (FaceID) or
 * both (FaceID-Plus). Unconditional inputs follow the reference implementation: zeros for
 * embeddings, the hidden states of an all-zero image for CLIP features.
 */
import * as ort from 'onnxruntime-node';
import type { LocatedModel, Role, StyleReference } from '../api.ts';
import { CLIP_VISION_IO } from '../graphs/clip-vision.ts';
import type { IpAdapterDescription } from '../weights/ip-adapter.ts';
import { preprocessClipImage } from '../preprocess/clip-image.ts';
import { faceIdentity } from './faces.ts';

export type Named = Record<string, { data: Float32Array; shape: readonly number[] }>;

async function clipFeatures(vision: ort.InferenceSession, pixels: { data: Float32Array; shape: readonly number[] }): Promise<{ embeds: ort.Tensor; hidden: ort.Tensor }> {
  const out = await vision.run({ [CLIP_VISION_IO.input]: new ort.Tensor('float32', pixels.data, [...pixels.shape]) });
  return { embeds: out[CLIP_VISION_IO.imageEmbeds], hidden: out[CLIP_VISION_IO.penultimate] };
}

const named = (t: ort.Tensor) => ({ data: t.data as Float32Array, shape: t.dims });
const zerosLike = (t: ort.Tensor) => ({ data: new Float32Array((t.data as Float32Array).length), shape: t.dims });

export async function references(ref: StyleReference, info: Pick<IpAdapterDescription, 'inputs'>, vision: ort.InferenceSession | undefined, find: (role: Role) => LocatedModel, opts: { provider: 'cpu' | 'cuda'; field: string }): Promise<{ cond: Named; uncond: Named }> {
  const cond: Named = {};
  const uncond: Named = {};
  const wants = new Set(info.inputs.map((i) => i.name));
  let clipSource = { width: ref.image.width, height: ref.image.height, data: ref.image.data, channels: 4 as const };
  if (wants.has('faceid_embeds')) {
    const face = await faceIdentity(ref.image, find, opts);
    cond.faceid_embeds = { data: face.embedding, shape: [1, face.embedding.length] };
    uncond.faceid_embeds = { data: new Float32Array(face.embedding.length), shape: [1, face.embedding.length] };
    if (face.alignedCrop) clipSource = { ...face.alignedCrop, channels: 4 };
  }
  if (wants.has('image_embeds') || wants.has('hidden_states_penultimate')) {
    if (!vision) throw new Error('the CLIP image encoder is needed for this adapter');
    const pixels = preprocessClipImage(clipSource);
    const c = await clipFeatures(vision, pixels);
    if (wants.has('image_embeds')) {
      cond.image_embeds = named(c.embeds);
      uncond.image_embeds = zerosLike(c.embeds);
    }
    if (wants.has('hidden_states_penultimate')) {
      cond.hidden_states_penultimate = named(c.hidden);
      // The unconditional input: one all-zero image of the encoder's input size.
      const zeroShape = [1, ...pixels.shape.slice(1)];
      const z = await clipFeatures(vision, { data: new Float32Array(zeroShape.reduce((a, b) => a * b, 1)), shape: zeroShape });
      uncond.hidden_states_penultimate = named(z.hidden);
    }
  }
  return { cond, uncond };
}
