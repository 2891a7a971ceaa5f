/**
 * Parity for `taesd-decoder` and `taesd-encoder` cases: the same tensors in both layouts the case
 * ships (diffusers `vae.safetensors` and the original taesd.py files), each must reproduce the
 * reference. Check names are prefixed with the weights role they ran from.
 */
import * as ort from 'onnxruntime-node';
import { buildTaesdDecoder, buildTaesdEncoder, taesdSource } from '../../graphs/taesd.ts';
import { imageToUint8NHWC } from '../../graphs/vae.ts';
import { compareOutputs, input, type CheckResult, type GotTensor } from '../compare.ts';
import type { FixtureCase } from '../fixture.ts';
import { CPU_TARGET, type ParityTarget } from '../target.ts';
import { runOnce } from './vae.ts';

const f32 = (x: { data: Float32Array; shape: readonly number[] }): ort.Tensor => new ort.Tensor('float32', x.data, [...x.shape]);

/** Roles of the case to run `part` from: `vae` (diffusers, both parts) and the original `*_<part>` file. */
export function taesdRoles(c: FixtureCase, part: 'decoder' | 'encoder'): string[] {
  const roles = Object.keys(c.weights).filter((r) => r === 'vae' || r.endsWith(`_${part}`));
  if (roles.length === 0) throw new Error(`${c.name}: no weights for the TAESD ${part} (roles ${Object.keys(c.weights).join(', ')})`);
  return roles;
}

function prefixed(role: string, results: CheckResult[]): CheckResult[] {
  return results.map((r) => ({ ...r, name: `${role}:${r.name}` }));
}

function latentMagnitude(c: FixtureCase): number | undefined {
  const m = c.params.latent_magnitude ?? c.config.latent_magnitude;
  return typeof m === 'number' ? m : undefined;
}

export async function runTaesdDecoderCase(c: FixtureCase, t: ParityTarget = CPU_TARGET): Promise<CheckResult[]> {
  const latents = f32(input(c, 'latents'));
  const out: CheckResult[] = [];
  for (const role of taesdRoles(c, 'decoder')) {
    const graph = buildTaesdDecoder(taesdSource(c.weights[role]), { flavour: t.flavour, latentMagnitude: latentMagnitude(c) });
    const { image } = await runOnce(graph, { latents }, t);
    const [n, ch, h, w] = image.shape;
    const got: Record<string, GotTensor> = { image, image_uint8: { data: imageToUint8NHWC(image.data, image.shape), shape: [n, h, w, ch] } };
    out.push(...prefixed(role, compareOutputs(c, got)));
  }
  return out;
}

export async function runTaesdEncoderCase(c: FixtureCase, t: ParityTarget = CPU_TARGET): Promise<CheckResult[]> {
  const image = f32(input(c, 'image'));
  const out: CheckResult[] = [];
  for (const role of taesdRoles(c, 'encoder')) {
    const graph = buildTaesdEncoder(taesdSource(c.weights[role]), { flavour: t.flavour });
    const got = await runOnce(graph, { image }, t);
    out.push(...prefixed(role, compareOutputs(c, got)));
  }
  return out;
}
