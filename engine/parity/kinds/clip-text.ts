/**
 * Parity for the text encoder kinds:
 *  - `clip-text` and `sdxl-clip-text-l`: one encoder built from the case's hf-clip weights.
 *  - `sdxl-clip-text-g`: SDXL's two encoders and the pipeline's prompt encoding
 *    (pipeline/conditioning.ts): bigG hidden states, pooled text_embeds at the EOS, prompt_embeds =
 *    concat of both encoders' hs[-2], the explicitly given negative prompt encoded; and, where the
 *    fixture set's BPE is at hand, the ids of `params.prompts` through the pipeline's tokenization.
 * Roles load through sdxlTextSource, so `sdxl-weights-ldm` can re-run these with the single-file
 * checkpoint (`weights_format` `ldm-sdxl`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildClipTextGraph, CLIP_TEXT_IO, eosRows, type ClipAct, type ClipTextOptions } from '../../graphs/clip-text.ts';
import { concatPerToken, runTextEncoder, sdxlChunkEmbeddings, sdxlEncodePrompt } from '../../pipeline/conditioning.ts';
import { ClipTokenizer, EOS_ID, OPENCLIP_PAD_ID, type EncodedPrompt } from '../../tokenizer/index.ts';
import { roleSource } from '../../weights/names.ts';
import { isSdxlSingleFile, sdxlClipLSource, sdxlOpenClipGSource } from '../../weights/openclip-names.ts';
import { SafetensorsFile } from '../../weights/safetensors.ts';
import type { WeightSource } from '../../weights/source.ts';
import { compareOutputs, compareTensor, type CheckResult, type GotTensor } from '../compare.ts';
import type { FixtureCase } from '../fixture.ts';
import { openSession, runBuilt } from '../graph-run.ts';
import { CPU_TARGET, flavourOf, type ParityTarget } from '../target.ts';
import { configAct, configNumber } from './config.ts';

/** A text encoder role's weights: hf-clip / diffusers files, or the part of a single-file SDXL checkpoint (`ldm-sdxl`). */
export function sdxlTextSource(c: FixtureCase, role: 'text_encoder' | 'text_encoder_2'): WeightSource {
  const path = c.weights[role];
  const format = c.weightsFormat[role];
  // An SDXL single file substituted as plain `ldm` (the weights-ldm runner) is read the SDXL way too.
  if (path && (format === 'ldm-sdxl' || (format === 'ldm' && isSdxlSingleFile(SafetensorsFile.open(path).keys())))) {
    return role === 'text_encoder' ? sdxlClipLSource(path) : sdxlOpenClipGSource(path);
  }
  return roleSource(c, role, 'text');
}

/** Heads / activation / eps of an encoder from the case config (top level, or nested under the role). */
function encoderOptions(c: FixtureCase, role: string, t: ParityTarget): ClipTextOptions {
  const nested = c.config[role];
  const cfg = nested && typeof nested === 'object' ? (nested as Record<string, unknown>) : c.config;
  const sub: FixtureCase = { ...c, config: cfg };
  const act: ClipAct | undefined = configAct(sub);
  return { heads: configNumber(sub, 'num_attention_heads'), act, eps: configNumber(sub, 'layer_norm_eps'), flavour: flavourOf(t, 'clip-text') };
}

function ids(c: FixtureCase, name: string): { data: BigInt64Array; shape: number[] } {
  if (!c.io) throw new Error(`${c.name}: case has no io file`);
  return { data: c.io.readInt64(`in.${name}`), shape: [...c.io.info(`in.${name}`).shape] };
}

export async function runClipTextCase(c: FixtureCase, t: ParityTarget = CPU_TARGET): Promise<CheckResult[]> {
  if (!c.io) throw new Error(`${c.name}: case has no io file`);
  const src = c.kind === 'clip-text' ? roleSource(c, 'text_encoder', 'text') : sdxlTextSource(c, 'text_encoder');
  const built = buildClipTextGraph(src, encoderOptions(c, 'text_encoder', t));
  const x = ids(c, 'input_ids');
  const got = await runBuilt(built, { input_ids: new ort.Tensor('int64', x.data, x.shape) }, t);
  return compareOutputs(c, got);
}

/** Rows of an [n, 77] id matrix as one-chunk prompts with weight 1 (the fixture's ids, framed by diffusers). */
function asPrompts(m: { data: BigInt64Array; shape: number[] }, padId: number): EncodedPrompt[] {
  const [n, L] = m.shape;
  return Array.from({ length: n }, (_, b) => ({
    chunks: [{ ids: Int32Array.from(m.data.subarray(b * L, (b + 1) * L), Number), weights: new Float32Array(L).fill(1) }],
    tokenCount: 0,
    padId,
  }));
}

const stacked = (rows: Float32Array[], shape: number[]): GotTensor => ({ data: Float32Array.from(rows.flatMap((r) => Array.from(r))), shape });

/** `params.prompts` (and the negative prompt) through the pipeline's tokenization must give the case's ids. */
function tokenizationChecks(c: FixtureCase): CheckResult[] {
  const bpe = join(dirname(c.dir), 'tokenizer-2', 'bpe_simple_vocab_16e6.txt.gz');
  const prompts = c.params.prompts;
  if (!existsSync(bpe) || !Array.isArray(prompts)) return [];
  const tok = ClipTokenizer.fromOpenAiBpe(readFileSync(bpe));
  const check = (name: string, texts: string[], l: string, g: string): CheckResult => {
    const want = [ids(c, l), ids(c, g)];
    const got = texts.map((p) => sdxlEncodePrompt(tok, p));
    const flat = (k: 'l' | 'g') => got.flatMap((x) => Array.from(x[k].chunks[0].ids));
    const same = (a: number[], b: BigInt64Array) => a.length === b.length && a.every((v, i) => BigInt(v) === b[i]);
    const pass = same(flat('l'), want[0].data) && same(flat('g'), want[1].data);
    return { name, maxAbsError: pass ? 0 : Infinity, pass, detail: pass ? undefined : 'ids differ from the fixture' };
  };
  const out = [check('tokenized prompts -> input_ids, input_ids_2', prompts.map(String), 'input_ids', 'input_ids_2')];
  if (typeof c.params.negative_prompt === 'string') out.push(check('tokenized negative_prompt -> negative_input_ids(_2)', [c.params.negative_prompt], 'negative_input_ids', 'negative_input_ids_2'));
  return out;
}

/** The `sdxl-clip-text-g` checks with the two encoders' weights given (also for `sdxl-weights-ldm`). */
export async function sdxlClipTextChecks(c: FixtureCase, t: ParityTarget, clipL: WeightSource, openClipG: WeightSource): Promise<CheckResult[]> {
  const sessions = { clipL: await openSession(buildClipTextGraph(clipL, encoderOptions(c, 'text_encoder', t)), t), openClipG: await openSession(buildClipTextGraph(openClipG, encoderOptions(c, 'text_encoder_2', t)), t) };
  try {
    const x1 = ids(c, 'input_ids');
    const x2 = ids(c, 'input_ids_2');
    const [n, L] = x2.shape;
    // The bigG encoder on its own: hidden states and the pooled projection at argmax(ids).
    const flat2 = Int32Array.from(x2.data, Number);
    const rows = Array.from({ length: n }, (_, b) => flat2.subarray(b * L, (b + 1) * L));
    const run = await sessions.openClipG.run({ [CLIP_TEXT_IO.input]: new ort.Tensor('int64', x2.data, x2.shape), [CLIP_TEXT_IO.eosRows]: new ort.Tensor('int64', eosRows(flat2, L), [n]) });
    const got: Record<string, GotTensor> = {};
    for (const name of [CLIP_TEXT_IO.penultimate, CLIP_TEXT_IO.lastHiddenState, CLIP_TEXT_IO.textEmbeds]) got[name] = { data: run[name].data as Float32Array, shape: run[name].dims.map(Number) };
    // The pipeline's path (pipeline/conditioning.ts) on the fixture's ids.
    const pair = (l: string, g: string) => asPrompts(ids(c, l), EOS_ID).map((p, i) => ({ l: p, g: asPrompts(ids(c, g), OPENCLIP_PAD_ID)[i] }));
    const cond = await sdxlChunkEmbeddings(sessions, pair('input_ids', 'input_ids_2'));
    got.prompt_embeds = stacked(cond.map((e) => e.embeds), [n, L, cond[0].dim]);
    got.pooled_prompt_embeds = stacked(cond.map((e) => e.pooled), [n, cond[0].pooled.length]);
    const neg = await sdxlChunkEmbeddings(sessions, pair('negative_input_ids', 'negative_input_ids_2'));
    got.negative_prompt_embeds = stacked(neg.map((e) => e.embeds), [neg.length, L, neg[0].dim]);
    got.negative_pooled_prompt_embeds = stacked(neg.map((e) => e.pooled), [neg.length, neg[0].pooled.length]);
    const results = compareOutputs(c, got);
    // prompt_embeds is exactly the two encoders' hs[-2] side by side: the CLIP-L half on its own.
    const l = await runTextEncoder(sessions.clipL, asPrompts(x1, EOS_ID).map((p) => p.chunks[0].ids), CLIP_TEXT_IO.penultimate);
    const dl = l.hidden[0].length / L;
    const dg = (got[CLIP_TEXT_IO.penultimate].data.length / n) / L;
    const split = rows.map((_, b) => concatPerToken(l.hidden[b], dl, (got[CLIP_TEXT_IO.penultimate].data as Float32Array).subarray(b * L * dg, (b + 1) * L * dg), dg));
    const exp = c.io!.readFloat32('out.prompt_embeds');
    results.push({ ...compareTensor('prompt_embeds = concat(clip-l hs[-2], bigG hs[-2])', { data: Float32Array.from(split.flatMap((r) => Array.from(r))) }, exp, [...c.io!.info('out.prompt_embeds').shape], c.tolerance) });
    return [...results, ...tokenizationChecks(c)];
  } finally {
    await sessions.clipL.release();
    await sessions.openClipG.release();
  }
}

export async function runSdxlClipTextCase(c: FixtureCase, t: ParityTarget = CPU_TARGET): Promise<CheckResult[]> {
  return sdxlClipTextChecks(c, t, sdxlTextSource(c, 'text_encoder'), sdxlTextSource(c, 'text_encoder_2'));
}

/**
 * The text-encoder part of `sdxl-weights-ldm` (called by its handler): both encoders read from the
 * single-file checkpoint must give exactly the tensors of the hf-clip files of `sdxl-clip-text-l`
 * / `sdxl-clip-text-g` (same keys, dtypes, shapes, bytes), and re-running those cases with the
 * checkpoint as `text_encoder` and `text_encoder_2` must pass.
 */
export async function sdxlTextLdmChecks(c: FixtureCase, t: ParityTarget = CPU_TARGET): Promise<CheckResult[]> {
  const { compareSources } = await import('./weights-ldm.ts');
  const { loadCase } = await import('../fixture.ts');
  const { caseForTarget } = await import('../kinds.ts');
  const model = Object.entries(c.weights).find(([role]) => c.weightsFormat[role] === 'ldm-sdxl')?.[1];
  if (!model) throw new Error(`${c.name}: no weights with format ldm-sdxl`);
  const out: CheckResult[] = [];
  for (const name of ['sdxl-clip-text-l', 'sdxl-clip-text-g']) {
    const dir = join(dirname(c.dir), name);
    if (!existsSync(join(dir, 'case.json'))) throw new Error(`${c.name}: reproduced case ${name} not found next to it`);
    const ref = caseForTarget(loadCase(dir), t);
    const roles = (['text_encoder', 'text_encoder_2'] as const).filter((r) => ref.weights[r]);
    for (const role of roles) out.push({ ...compareSources(`keys:${role} (${name})`, sdxlTextSource({ ...ref, weights: { ...ref.weights, [role]: model }, weightsFormat: { ...ref.weightsFormat, [role]: 'ldm-sdxl' } }, role), sdxlTextSource(ref, role)) });
    const substituted: FixtureCase = {
      ...ref,
      weights: { ...ref.weights, ...Object.fromEntries(roles.map((r) => [r, model])) },
      weightsFormat: { ...ref.weightsFormat, ...Object.fromEntries(roles.map((r) => [r, 'ldm-sdxl'])) },
    };
    const checks = ref.kind === 'sdxl-clip-text-g' ? await runSdxlClipTextCase(substituted, t) : await runClipTextCase(substituted, t);
    out.push(...checks.map((r) => ({ ...r, name: `${name}[${basename(model)}] ${r.name}` })));
  }
  return out;
}
