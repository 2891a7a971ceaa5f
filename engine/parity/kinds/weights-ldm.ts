/**
 * Parity for `weights-ldm`: the same tensors in LDM / lllyasviel naming must reproduce the cases
 * listed in `params.reproduces`.
 *
 * Two levels of checks:
 *  1. tensors: each LDM file, mapped through the name table (engine/weights/names.ts), must give
 *     exactly the key set, dtypes, shapes and bytes of the diffusers / HF file the reproduced cases
 *     use (`keys:<component>` checks). Identical tensors under identical names make any graph built
 *     from them identical.
 *  2. graphs: every reproduced case is re-run with its roles substituted (unet / vae / text_encoder
 *     -> the single-file checkpoint, controlnet -> each lllyasviel file) and `weights_format` set to
 *     `ldm`, through that kind's registered handler. Handlers must load roles with `roleSource(c,
 *     role)` to honour the format; for `unet` and `controlnet` kinds whose handler opens the file
 *     raw, a direct build (engine/graphs/unet.ts, controlnet.ts) from the LDM-mapped source runs
 *     instead.
 */
import * as ort from 'onnxruntime-node';
import { basename, dirname, join, relative } from 'node:path';
import { readRange } from '../../weights/safetensors.ts';
import { componentOfRole, ldmComponents, ldmSource, roleSource, type Component } from '../../weights/names.ts';
import { readWeightFloat32, type WeightSource } from '../../weights/source.ts';
import { compareOutputs, input, type CheckResult } from '../compare.ts';
import { listCases, loadCase, type FixtureCase } from '../fixture.ts';
import { caseForTarget, handlerFor } from '../kinds.ts';
import { CPU_TARGET, flavourOf, type ParityTarget } from '../target.ts';
import { runOnce } from './vae.ts';

interface LdmFile {
  readonly role: string;
  readonly path: string;
  readonly components: Component[];
}

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

/** The reproduced case names, glob patterns expanded against the fixture folder (index order). */
export function reproducedCases(c: FixtureCase): string[] {
  const rep = c.params.reproduces;
  if (!rep || typeof rep !== 'object') throw new Error(`${c.name}: params.reproduces missing`);
  const all = listCases(dirname(c.dir)).map((d) => basename(d));
  const out: string[] = [];
  for (const list of Object.values(rep as Record<string, unknown>)) {
    for (const pat of Array.isArray(list) ? list : [list]) {
      const re = globToRegExp(String(pat));
      const hits = all.filter((n) => re.test(n));
      if (hits.length === 0) throw new Error(`${c.name}: reproduced case "${pat}" not found next to it`);
      for (const h of hits) if (!out.includes(h) && h !== c.name) out.push(h);
    }
  }
  return out;
}

/** Compares a mapped source with a reference source: key set, dtype, shape and bytes. */
export function compareSources(name: string, got: WeightSource, ref: WeightSource): CheckResult {
  const gk = new Set(got.keys());
  const rk = new Set(ref.keys());
  const missing = [...rk].filter((k) => !gk.has(k));
  const extra = [...gk].filter((k) => !rk.has(k));
  const problems: string[] = [];
  if (missing.length) problems.push(`${missing.length} key(s) missing after mapping: ${missing.slice(0, 4).join(', ')}${missing.length > 4 ? ', …' : ''}`);
  if (extra.length) problems.push(`${extra.length} key(s) not in the reference: ${extra.slice(0, 4).join(', ')}${extra.length > 4 ? ', …' : ''}`);
  let maxAbs = 0;
  let bad = 0;
  for (const k of gk) {
    if (!rk.has(k)) continue;
    const a = got.get(k)!;
    const b = ref.get(k)!;
    if (a.dtype !== b.dtype || a.shape.join(',') !== b.shape.join(',')) {
      if (bad++ < 4) problems.push(`${k}: ${a.dtype}[${a.shape}] vs reference ${b.dtype}[${b.shape}]`);
      continue;
    }
    const ab = 'bytes' in a.data ? a.data.bytes : readRange(a.data.file, a.data.offset, a.data.byteLength);
    const bb = 'bytes' in b.data ? b.data.bytes : readRange(b.data.file, b.data.offset, b.data.byteLength);
    if (Buffer.compare(Buffer.from(ab.buffer, ab.byteOffset, ab.byteLength), Buffer.from(bb.buffer, bb.byteOffset, bb.byteLength)) === 0) continue;
    const isFloat = a.dtype === 'F32' || a.dtype === 'F16' || a.dtype === 'BF16' || a.dtype === 'F64';
    if (isFloat) {
      const x = readWeightFloat32(a);
      const y = readWeightFloat32(b);
      for (let i = 0; i < x.length; i++) maxAbs = Math.max(maxAbs, Math.abs(x[i] - y[i]));
    } else {
      maxAbs = Infinity;
    }
    if (bad++ < 4) problems.push(`${k}: values differ`);
  }
  if (bad > 4) problems.push(`… ${bad} tensors differ in all`);
  const pass = problems.length === 0;
  return { name, maxAbsError: pass ? 0 : Math.max(maxAbs, missing.length || extra.length ? Infinity : 0), pass, detail: pass ? undefined : problems.join('; ') };
}

/** A reproduced case with its roles pointed at the LDM files (one variant per ControlNet file). */
function substitutions(target: FixtureCase, files: LdmFile[]): Array<{ label: string; c: FixtureCase }> {
  const roles = Object.keys(target.weights).filter((r) => componentOfRole(r));
  const model = files.filter((f) => f.components.some((x) => x !== 'controlnet'));
  const controls = files.filter((f) => f.components.includes('controlnet'));
  const needsControl = roles.some((r) => componentOfRole(r) === 'controlnet');
  const variants = needsControl ? controls : [undefined];
  const out: Array<{ label: string; c: FixtureCase }> = [];
  for (const cn of variants) {
    const weights = { ...target.weights };
    const weightsFormat = { ...target.weightsFormat };
    const used: string[] = [];
    for (const role of roles) {
      const comp = componentOfRole(role)!;
      const file = comp === 'controlnet' ? cn : model.find((f) => f.components.includes(comp));
      if (!file) continue;
      weights[role] = file.path;
      weightsFormat[role] = 'ldm';
      if (!used.includes(basename(file.path))) used.push(basename(file.path));
    }
    if (used.length) out.push({ label: `${target.name}[${used.join('+')}]`, c: { ...target, weights, weightsFormat } });
  }
  return out;
}

const prefixed = (label: string, checks: CheckResult[]): CheckResult[] => checks.map((r) => ({ ...r, name: `${label} ${r.name}` }));

/** Did the handler open an LDM file as if it were in diffusers naming (i.e. ignore weights_format)? */
function ignoredFormat(e: unknown, c: FixtureCase): boolean {
  // A raw source's description is the bare path ("<path>: missing tensor …", "<path>: not a …");
  // name-table sources describe themselves as "<path> [LDM …]".
  const msg = (e as Error)?.message ?? '';
  return Object.entries(c.weightsFormat).some(([role, f]) => f === 'ldm' && msg.includes(`${c.weights[role]}: `));
}

const f32 = (x: { data: Float32Array; shape: readonly number[] }) => new ort.Tensor('float32', x.data, x.shape);

/** Direct builds from the LDM-mapped sources, for handlers that do not honour weights_format yet. */
const direct: Record<string, (c: FixtureCase, t: ParityTarget) => Promise<CheckResult[]>> = {
  async unet(c, t) {
    const { buildUNet } = await import('../../graphs/unet.ts');
    const { unetConfigFromCase } = await import('./config.ts');
    const control = !!c.io?.has('in.mid_block_additional_residual');
    const graph = buildUNet(roleSource(c, 'unet'), { flavour: flavourOf(t, 'unet'), control, ip: false, config: unetConfigFromCase(c) });
    const feeds: Record<string, ort.Tensor> = { sample: f32(input(c, 'sample')), timestep: f32(input(c, 'timestep')), encoder_hidden_states: f32(input(c, 'encoder_hidden_states')) };
    if (control) {
      for (let i = 0; c.io!.has(`in.down_block_additional_residuals_${i}`); i++) feeds[`down_residual_${i}`] = f32(input(c, `down_block_additional_residuals_${i}`));
      feeds.mid_residual = f32(input(c, 'mid_block_additional_residual'));
    }
    const out = await runOnce(graph, feeds, t);
    return compareOutputs(c, { sample: out.noise_pred });
  },
  async controlnet(c, t) {
    const { buildControlNet, controlScales } = await import('../../graphs/controlnet.ts');
    const { unetConfigFromCase } = await import('./config.ts');
    const graph = buildControlNet(roleSource(c, 'controlnet'), { flavour: flavourOf(t, 'controlnet'), config: unetConfigFromCase(c) });
    const n = graph.outputs.length;
    const out = await runOnce(graph, {
      sample: f32(input(c, 'sample')),
      timestep: f32(input(c, 'timestep')),
      encoder_hidden_states: f32(input(c, 'encoder_hidden_states')),
      controlnet_cond: f32(input(c, 'controlnet_cond')),
      conditioning_scale: new ort.Tensor('float32', controlScales(n, Number(c.params.conditioning_scale ?? 1), c.params.guess_mode === true), [n]),
    }, t);
    const got: Record<string, { data: Float32Array; shape: readonly number[] }> = {};
    for (let k = 0; k < n - 1; k++) got[`down_block_res_samples_${k}`] = out[`down_residual_${k}`];
    got.mid_block_res_sample = out.mid_residual;
    return compareOutputs(c, got);
  },
};

async function reproduce(label: string, c: FixtureCase, t: ParityTarget): Promise<CheckResult[]> {
  const handler = await handlerFor(c.kind);
  const fallback = direct[c.kind];
  const isIp = c.kind === 'unet-ip';
  if (!handler) {
    if (fallback && !isIp) return prefixed(`${label} (direct build)`, await fallback(c, t));
    return [{ name: label, maxAbsError: Infinity, pass: false, detail: `not run: no parity handler for kind "${c.kind}" yet (the LDM-mapped tensors are checked by the keys: checks)` }];
  }
  try {
    return prefixed(label, await handler(c, t));
  } catch (e) {
    if (fallback && ignoredFormat(e, c)) return prefixed(`${label} (direct build; its handler ignores weights_format: load roles with roleSource())`, await fallback(c, t));
    const msg = (e as Error).message ?? String(e);
    const hint = ignoredFormat(e, c) ? ' — the handler opened the LDM file without the name table; it should load weights with roleSource(c, role) from engine/weights/names.ts' : '';
    return [{ name: label, maxAbsError: Infinity, pass: false, detail: `${msg.split('\n')[0]}${hint}` }];
  }
}

export async function runWeightsLdmCase(c: FixtureCase, target: ParityTarget = CPU_TARGET): Promise<CheckResult[]> {
  const files: LdmFile[] = Object.entries(c.weights)
    .filter(([role]) => c.weightsFormat[role] === 'ldm' || c.weightsFormat[role] === 'ldm-sdxl')
    .map(([role, path]) => ({ role, path, components: ldmComponents(path) }));
  if (files.length === 0) throw new Error(`${c.name}: no weights in "ldm" / "ldm-sdxl" format`);
  const root = dirname(c.dir);
  // Each reproduced case keeps its own kind's tolerance for this target.
  const targets = reproducedCases(c).map((n) => caseForTarget(loadCase(join(root, n)), target));
  const checks: CheckResult[] = [];

  // 1. Tensor level: every mapped component against the file the reproduced cases use.
  const done = new Set<string>();
  for (const t of targets) {
    for (const role of Object.keys(t.weights)) {
      const comp = componentOfRole(role);
      if (!comp) continue;
      for (const f of files.filter((x) => x.components.includes(comp))) {
        const key = `${f.path}|${comp}|${t.weights[role]}`;
        if (done.has(key)) continue;
        done.add(key);
        const name = `keys:${comp} ${basename(f.path)} vs ${relative(root, t.weights[role])}`;
        try {
          checks.push(compareSources(name, ldmSource(f.path, comp), roleSource(t, role, comp)));
        } catch (e) {
          checks.push({ name, maxAbsError: Infinity, pass: false, detail: (e as Error).message });
        }
      }
    }
  }

  // SDXL single files: the text encoders (conditioner.embedders.*) are checked by the text side's
  // sdxlTextLdmChecks (kinds/clip-text.ts); the UNet and VAE roles go through the LDM table below.
  const sdxlText = (t: FixtureCase): boolean => c.kind === 'sdxl-weights-ldm' && t.kind.startsWith('sdxl-clip-text');
  if (c.kind === 'sdxl-weights-ldm') {
    const { sdxlTextLdmChecks } = await import('./clip-text.ts');
    checks.push(...(await sdxlTextLdmChecks(c, target)));
  }
  // A reproduced case with a role no LDM file provides fails here rather than passing unchecked.
  for (const t of targets.filter((x) => !sdxlText(x))) {
    const missing = Object.keys(t.weights).filter((role) => {
      const comp = componentOfRole(role);
      return comp && !files.some((f) => f.components.includes(comp));
    });
    if (missing.length) checks.push({ name: `${t.name}`, maxAbsError: Infinity, pass: false, detail: `not run: no component of ${files.map((f) => basename(f.path)).join(', ')} was recognised for role(s) ${missing.join(', ')}` });
  }

  // 2. Graph level: the reproduced cases with LDM weights substituted.
  for (const t of targets.filter((x) => !sdxlText(x))) {
    for (const { label, c: sub } of substitutions(t, files)) checks.push(...(await reproduce(label, sub, target)));
  }
  return checks;
}
