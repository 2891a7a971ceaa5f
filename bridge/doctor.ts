/**
 * `ipa-bridge doctor`: what this machine can run on, and what the model folders lack. Every provider
 * is probed the way the daemon probes at start-up (a tiny graph, CPU fallback off), so what doctor
 * says works is what `start` will use.
 */
import { existsSync } from 'node:fs';
import { arch, platform, release, totalmem } from 'node:os';
import { ortVersion } from './install-cuda.ts';
import { resolveRoots } from './models/config.ts';
import { formatMissing, foundByRole, missingFeatures, type MissingFeature } from './models/features.ts';
import { registryLocator } from './models/locator.ts';
import type { ModelSummary } from '../engine/api.ts';
import { nvidiaGpus, probeAll, probeProvider, selectProvider, type GpuInfo, type ProbeResult, type ProviderSelection } from '../engine/runtime/probe.ts';
import type { ProviderChoice } from '../engine/runtime/providers.ts';

export interface DoctorOptions {
  readonly modelsDir?: string;
  readonly provider: ProviderChoice;
  readonly json: boolean;
}

export interface DoctorReport {
  readonly platform: string;
  readonly node: string;
  readonly onnxruntime: string;
  readonly memoryGiB: number;
  readonly providers: readonly ProbeResult[];
  readonly chosen: Pick<ProviderSelection, 'provider' | 'fp16' | 'device' | 'reason'> | { readonly error: string };
  readonly gpus: readonly GpuInfo[];
  readonly modelFolders: ReadonlyArray<{ readonly path: string; readonly exists: boolean }>;
  readonly models: ReadonlyArray<Pick<ModelSummary, 'name' | 'kind'>>;
  readonly missing: readonly MissingFeature[];
}

export async function doctorReport(opts: Omit<DoctorOptions, 'json'>): Promise<DoctorReport> {
  const providers = await probeAll();
  let chosen: DoctorReport['chosen'];
  try {
    // The choice from the probes just run, not a second round of them (WebGPU's takes seconds).
    const byName = new Map(providers.map((p) => [p.provider, p]));
    const s = await selectProvider(opts.provider, { probe: async (p) => byName.get(p) ?? probeProvider(p) });
    chosen = { provider: s.provider, fp16: s.fp16, device: s.device, reason: s.reason };
  } catch (e) {
    chosen = { error: (e as Error).message };
  }
  const { roots } = resolveRoots(opts.modelsDir ? [opts.modelsDir] : []);
  const models = (await registryLocator(opts.modelsDir).list()).map((m) => ({ name: m.name, kind: m.kind }));
  return {
    platform: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    onnxruntime: ortVersion(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    providers,
    chosen,
    gpus: nvidiaGpus(),
    modelFolders: roots.map((path) => ({ path, exists: existsSync(path) })),
    models,
    missing: missingFeatures(models),
  };
}

/** The report as the lines doctor prints. Pure. */
export function formatDoctor(r: DoctorReport): string[] {
  const lines = [`platform: ${r.platform}, Node ${r.node}, onnxruntime-node ${r.onnxruntime}, ${r.memoryGiB} GiB RAM`, '', 'providers:'];
  for (const p of r.providers) {
    const state = p.ok ? `ok${p.fp16 ? ', fp16' : ''}` : p.available ? 'FAILED' : 'not available';
    const time = p.createMs !== undefined ? `  probe ${Math.round(p.createMs)} ms to load, ${p.runMs?.toFixed(1)} ms to run` : '';
    lines.push(`  ${p.provider.padEnd(8)} ${state}${time}${p.device ? `  [${p.device}]` : ''}`);
    if (!p.ok && p.error) lines.push(`           ${p.error}${p.hint ? ` — ${p.hint}` : ''}`);
  }
  lines.push('');
  if ('error' in r.chosen) lines.push(`chosen: none — ${r.chosen.error}`);
  else lines.push(`chosen: ${r.chosen.provider}${r.chosen.fp16 ? ' (fp16)' : ''}${r.chosen.device ? ` on ${r.chosen.device}` : ''} — ${r.chosen.reason}`);
  if (r.gpus.length) lines.push(`GPU memory: ${r.gpus.map((g) => `${g.name} ${g.memoryUsedMiB}/${g.memoryTotalMiB} MiB used`).join('; ')}`);
  else lines.push('GPU memory: not known (no nvidia-smi; onnxruntime-node does not report WebGPU, CoreML or DirectML memory)');
  lines.push('', 'model folders:');
  for (const f of r.modelFolders) lines.push(`  ${f.path}${f.exists ? '' : '  (does not exist)'}`);
  lines.push(`models: ${r.models.length} found`);
  for (const g of foundByRole(r.models)) lines.push(`  ${g.role}: ${g.names.join(', ')}`);
  if (r.missing.length === 0) lines.push('every feature has its models');
  for (const m of r.missing) lines.push(`  missing — ${formatMissing(m)}`);
  return lines;
}

/** Prints the report to `out`; returns the exit code (0 = a provider works and text-to-image has its models, 1 otherwise). */
export async function runDoctor(opts: DoctorOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const r = await doctorReport(opts);
  out.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatDoctor(r).join('\n')}\n`);
  const canGenerate = !r.missing.some((m) => m.feature === 'text to image');
  return 'error' in r.chosen || !canGenerate ? 1 : 0;
}
