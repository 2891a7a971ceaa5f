/**
 * The TAESD encoder for a draft (live) img2img job's init image. On the 2-core CPU the full VAE
 * encoder took 3.1 s of a 9 s live job (bench/live.ts); TAESD's encoder is ReLU convs only, a few
 * percent of that. Its latents are a close approximation of the VAE's scaled latent mean (what TAESD
 * is trained to reproduce), so a draft's look stays the same; final-quality jobs keep the full VAE.
 *
 * Taken from `vae:taesd-encoder` (taesd.py's `taesd_encoder.safetensors`), or from a diffusers
 * AutoencoderTiny file (role `vae:taesd`) that carries both halves. undefined when neither is
 * installed: the caller falls back to the full VAE encoder.
 */
import { statSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { EngineError, type LocatedModel, type ModelLocator, type RgbaImage, type Role } from '../api.ts';
import { buildTaesdEncoder } from '../graphs/taesd.ts';
import type { Flavour } from '../onnx/builder.ts';
import { SafetensorsFile } from '../weights/safetensors.ts';
import { taesdLayout, taesdSource } from '../weights/taesd.ts';
import { fileIdentity, type SessionCache } from './sessions.ts';
import { resizeRgba, rgbaToPlanar } from './tensor.ts';

export interface TinyEncoder {
  readonly model: LocatedModel;
  /** image [1, 3, H, W] in [-1, 1] -> latents [1, C, H/8, W/8] in UNet space. */
  encode(image: Float32Array, height: number, width: number): Promise<Float32Array>;
}

function located(models: ModelLocator, role: Role): LocatedModel | undefined {
  try {
    return models.find(role);
  } catch (e) {
    if (e instanceof EngineError && e.code === 'model-missing') return undefined;
    throw e;
  }
}

/** The installed TAESD encoder as a cached session, or undefined (then the full VAE encodes). */
export async function loadTinyEncoder(models: ModelLocator, sessions: SessionCache, flavour: Flavour, role: 'vae:taesd' | 'vae:taesdxl' = 'vae:taesd'): Promise<TinyEncoder | undefined> {
  let model = located(models, `${role}-encoder`);
  if (!model) {
    // A diffusers AutoencoderTiny file holds the encoder beside the decoder.
    const both = located(models, role);
    if (!both || statSync(both.path).isDirectory() || taesdLayout(SafetensorsFile.open(both.path).keys()) !== 'diffusers') return undefined;
    model = both;
  }
  const session = await sessions.get(`taesd-enc|${fileIdentity(model.path)}`, () => buildTaesdEncoder(taesdSource(model.path), { flavour }));
  return {
    model,
    async encode(image, height, width) {
      const r = await session.run({ image: new ort.Tensor('float32', image, [1, 3, height, width]) });
      return r.latents.data as Float32Array;
    },
  };
}

/** A draft job's init image (RGBA) encoded by TAESD at the generation size, or undefined when no TAESD encoder is installed. */
export async function encodeInitTiny(models: ModelLocator, sessions: SessionCache, flavour: Flavour, role: 'vae:taesd' | 'vae:taesdxl', img: RgbaImage, width: number, height: number): Promise<{ latents: Float32Array; model: LocatedModel } | undefined> {
  const enc = await loadTinyEncoder(models, sessions, flavour, role);
  if (!enc) return undefined;
  const x = rgbaToPlanar(resizeRgba(img.data, img.width, img.height, width, height), width, height, (v) => v / 127.5 - 1);
  return { latents: await enc.encode(x, height, width), model: enc.model };
}
