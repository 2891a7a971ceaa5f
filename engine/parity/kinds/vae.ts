/** Parity for `vae-decoder` and `vae-encoder` cases (weights in the case's stated naming). */
import * as ort from 'onnxruntime-node';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuiltGraph } from '../../onnx/builder.ts';
import { buildVaeDecoder, buildVaeEncoder, imageToUint8NHWC, type VaeConfig } from '../../graphs/vae.ts';
import { roleSource } from '../../weights/names.ts';
import type { WeightSource } from '../../weights/source.ts';
import { compareOutputs, input, type CheckResult } from '../compare.ts';
import type { FixtureCase } from '../fixture.ts';
import { runBuilt, type FloatOutput } from '../graph-run.ts';
import { CPU_TARGET, flavourOf, type ParityTarget } from '../target.ts';

/** Norm groups, scaling and shift from case.json (diffusers config keys; params override). */
export function vaeConfigFromCase(c: FixtureCase, config: Record<string, unknown> = c.config): Partial<VaeConfig> {
  const out: { -readonly [K in keyof VaeConfig]?: VaeConfig[K] } = {};
  if (typeof config.norm_num_groups === 'number') out.groups = config.norm_num_groups;
  if (typeof config.scaling_factor === 'number') out.scalingFactor = config.scaling_factor;
  if (typeof config.shift_factor === 'number') out.shiftFactor = config.shift_factor;
  if (typeof c.params.scaling_factor === 'number') out.scalingFactor = c.params.scaling_factor;
  return out;
}

/**
 * Builds, runs once on the target's provider and releases. Unless IPA_BRIDGE_CACHE_DIR names a cache,
 * the graph goes into a temporary folder removed afterwards (VAE graphs are not worth keeping).
 */
export async function runOnce(graph: BuiltGraph, feeds: Record<string, ort.Tensor>, t: ParityTarget = CPU_TARGET): Promise<Record<string, FloatOutput>> {
  const own = process.env.IPA_BRIDGE_CACHE_DIR ? undefined : mkdtempSync(join(tmpdir(), 'ipa-parity-vae-'));
  try {
    return await runBuilt(graph, feeds, t, own ?? process.env.IPA_BRIDGE_CACHE_DIR);
  } finally {
    if (own) rmSync(own, { recursive: true, force: true });
  }
}

const f32 = (x: { data: Float32Array; shape: readonly number[] }) => new ort.Tensor('float32', x.data, x.shape);

/** The decoder case against an explicit source (weights-ldm reuses it with LDM-mapped weights). */
export async function vaeDecoderChecks(c: FixtureCase, w: WeightSource, config: Partial<VaeConfig> = vaeConfigFromCase(c), t: ParityTarget = CPU_TARGET): Promise<CheckResult[]> {
  const out = await runOnce(buildVaeDecoder(w, { flavour: flavourOf(t, 'vae-decoder'), config }), { latents: f32(input(c, 'latents')) }, t);
  const image = out.image;
  return compareOutputs(c, { image, image_uint8: { data: imageToUint8NHWC(image.data, image.shape), shape: [image.shape[0], image.shape[2], image.shape[3], image.shape[1]] } });
}

export async function vaeEncoderChecks(c: FixtureCase, w: WeightSource, config: Partial<VaeConfig> = vaeConfigFromCase(c), t: ParityTarget = CPU_TARGET): Promise<CheckResult[]> {
  const out = await runOnce(buildVaeEncoder(w, { flavour: flavourOf(t, 'vae-encoder'), config }), { image: f32(input(c, 'image')) }, t);
  return compareOutputs(c, out);
}

export async function runVaeDecoderCase(c: FixtureCase, t: ParityTarget = CPU_TARGET): Promise<CheckResult[]> {
  return vaeDecoderChecks(c, roleSource(c, 'vae', 'vae'), vaeConfigFromCase(c), t);
}

export async function runVaeEncoderCase(c: FixtureCase, t: ParityTarget = CPU_TARGET): Promise<CheckResult[]> {
  return vaeEncoderChecks(c, roleSource(c, 'vae', 'vae'), vaeConfigFromCase(c), t);
}
