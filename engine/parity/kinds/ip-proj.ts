/**
 * Parity for `ip-proj`: the IP-Adapter image projection built from the case's h94 file, on the
 * case's inputs (cond) and on the unconditional inputs (zeros for embeddings, the all-zero image's
 * penultimate hidden states for CLIP features).
 */
import { safetensorsSource } from '../../weights/source.ts';
import { buildIpProjectionGraph, describeIpAdapterSource, IP_PROJ_IO } from '../../graphs/ip-adapter.ts';
import { compareOutputs, input, type CheckResult, type GotTensor } from '../compare.ts';
import type { FixtureCase } from '../fixture.ts';
import { floatTensor, runBuilt, type Feeds } from '../graph-run.ts';
import { CPU_TARGET, flavourOf, type ParityTarget } from '../target.ts';
import { configNumber, weightFile } from './config.ts';

export async function runIpProjCase(c: FixtureCase, t: ParityTarget = CPU_TARGET): Promise<CheckResult[]> {
  if (!c.io) throw new Error(`${c.name}: case has no io file`);
  const src = safetensorsSource(weightFile(c, 'ip_adapter'));
  const info = describeIpAdapterSource(src);
  const built = buildIpProjectionGraph(src, {
    heads: configNumber(c, 'heads') ?? configNumber(c, 'perceiver_heads'),
    dimHead: configNumber(c, 'dim_head') ?? configNumber(c, 'perceiver_dim_head'),
    shortcut: c.params.shortcut === true,
    sScale: typeof c.params.s_scale === 'number' ? c.params.s_scale : undefined,
    flavour: flavourOf(t, 'ip-proj'),
  });
  const cond: Feeds = {};
  const uncond: Feeds = {};
  for (const { name } of info.inputs) {
    const x = input(c, name);
    cond[name] = floatTensor(x.data, x.shape);
    // CLIP features: the all-zero image's features; embeddings (CLIP image_embeds, face ids): zeros.
    const u = name === 'hidden_states_penultimate' ? input(c, `${name}_uncond`) : { data: new Float32Array(x.data.length), shape: x.shape };
    uncond[name] = floatTensor(u.data, u.shape);
  }
  const got: Record<string, GotTensor> = await runBuilt(built, cond, t);
  const u = await runBuilt(built, uncond, t);
  got[`${IP_PROJ_IO.tokens}_uncond`] = u[IP_PROJ_IO.tokens];
  return compareOutputs(c, got);
}
