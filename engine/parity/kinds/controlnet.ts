/** Parity for `controlnet` / `sdxl-controlnet` cases (plain and guess mode). */
import * as ort from 'onnxruntime-node';
import { buildControlNet, controlScales } from '../../graphs/controlnet.ts';
import { safetensorsSource } from '../../weights/source.ts';
import { compareOutputs, input, type CheckResult } from '../compare.ts';
import type { FixtureCase } from '../fixture.ts';
import { openSession } from '../graph-run.ts';
import { CPU_TARGET, flavourOf, type ParityTarget } from '../target.ts';
import { unetConfigFromCase } from './config.ts';

const f32 = (x: { data: Float32Array; shape: readonly number[] }) => new ort.Tensor('float32', x.data, x.shape);

export async function runControlNetCase(c: FixtureCase, t: ParityTarget = CPU_TARGET): Promise<CheckResult[]> {
  const graph = buildControlNet(safetensorsSource(c.weights.controlnet), { flavour: flavourOf(t, 'controlnet'), config: unetConfigFromCase(c) });
  const session = await openSession(graph, t);
  const n = graph.outputs.length;
  const scale = Number(c.params.conditioning_scale ?? 1);
  // SDXL ControlNets also take the pooled text embeddings and time ids.
  const added = Object.fromEntries(['text_embeds', 'time_ids'].filter((n) => session.inputNames.includes(n)).map((n) => [n, f32(input(c, n))]));
  const out = await session.run({
    ...added,
    sample: f32(input(c, 'sample')),
    timestep: f32(input(c, 'timestep')),
    encoder_hidden_states: f32(input(c, 'encoder_hidden_states')),
    controlnet_cond: f32(input(c, 'controlnet_cond')),
    conditioning_scale: new ort.Tensor('float32', controlScales(n, scale, c.params.guess_mode === true), [n]),
  });
  await session.release();
  const got: Record<string, { data: Float32Array; shape: readonly number[] }> = {};
  for (let k = 0; k < n - 1; k++) got[`down_block_res_samples_${k}`] = { data: out[`down_residual_${k}`].data as Float32Array, shape: out[`down_residual_${k}`].dims };
  got.mid_block_res_sample = { data: out.mid_residual.data as Float32Array, shape: out.mid_residual.dims };
  return compareOutputs(c, got);
}
