/** Parity for `clip-text`: the text encoder built from the case's hf-clip weights, on the target provider. */
import * as ort from 'onnxruntime-node';
import { safetensorsSource } from '../../weights/source.ts';
import { buildClipTextGraph } from '../../graphs/clip-text.ts';
import { compareOutputs, type CheckResult } from '../compare.ts';
import type { FixtureCase } from '../fixture.ts';
import { runBuilt } from '../graph-run.ts';
import { CPU_TARGET, flavourOf, type ParityTarget } from '../target.ts';
import { configAct, configNumber, weightFile } from './config.ts';

export async function runClipTextCase(c: FixtureCase, t: ParityTarget = CPU_TARGET): Promise<CheckResult[]> {
  if (!c.io) throw new Error(`${c.name}: case has no io file`);
  const src = safetensorsSource(weightFile(c, 'text_encoder'));
  const built = buildClipTextGraph(src, { heads: configNumber(c, 'num_attention_heads'), act: configAct(c), eps: configNumber(c, 'layer_norm_eps'), flavour: flavourOf(t, 'clip-text') });
  const info = c.io.info('in.input_ids');
  const ids = new ort.Tensor('int64', c.io.readInt64('in.input_ids'), [...info.shape]);
  const got = await runBuilt(built, { input_ids: ids }, t);
  return compareOutputs(c, got);
}
