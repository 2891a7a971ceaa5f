/** Parity for `clip-vision`: the image encoder (with projection) on the case's pixels and on an all-zero image. */
import { safetensorsSource } from '../../weights/source.ts';
import { buildClipVisionGraph } from '../../graphs/clip-vision.ts';
import { compareOutputs, input, type CheckResult, type GotTensor } from '../compare.ts';
import type { FixtureCase } from '../fixture.ts';
import { floatTensor, runBuilt } from '../graph-run.ts';
import { CPU_TARGET, flavourOf, type ParityTarget } from '../target.ts';
import { configAct, configNumber, weightFile } from './config.ts';

export async function runClipVisionCase(c: FixtureCase, t: ParityTarget = CPU_TARGET): Promise<CheckResult[]> {
  const src = safetensorsSource(weightFile(c, 'image_encoder'));
  const built = buildClipVisionGraph(src, { heads: configNumber(c, 'num_attention_heads'), act: configAct(c), eps: configNumber(c, 'layer_norm_eps'), flavour: flavourOf(t, 'clip-vision') });
  const px = input(c, 'pixel_values');
  const got: Record<string, GotTensor> = await runBuilt(built, { pixel_values: floatTensor(px.data, px.shape) }, t);
  // The unconditional image of IP-Adapter Plus: one all-zero image.
  const zshape = [1, ...px.shape.slice(1)];
  const zero = await runBuilt(built, { pixel_values: floatTensor(new Float32Array(zshape.reduce((a, b) => a * b, 1)), zshape) }, t);
  for (const [k, v] of Object.entries(zero)) got[`zero_${k}`] = v;
  return compareOutputs(c, got);
}
