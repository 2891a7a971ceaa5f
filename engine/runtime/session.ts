/**
 * Turns a BuiltGraph into an onnxruntime session. onnxruntime-node refuses external data whose
 * resolved path leaves the .onnx file's folder, so the .onnx goes into a cache folder and each
 * weight file is hard-linked beside it (no copy). Where a hard link is impossible (another
 * filesystem), the weight bytes are handed over in memory instead.
 */
import { createHash } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { cpus, homedir, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { MEMORY_LOCATION, type BuiltGraph } from '../onnx/builder.ts';
import { executionProviders, providerSessionOptions, type ProviderName } from './providers.ts';

/** The provider a session runs on. */
export type Provider = ProviderName;

export interface SessionOptions {
  readonly provider: Provider;
  /** Folder for graph files and weight links; defaults to the user cache folder. */
  readonly cacheDir?: string;
  readonly intraOpThreads?: number;
  /** Where to save the optimized graph, for inspection. */
  readonly optimizedModelPath?: string;
  /** Save / reuse the optimised graph for big CPU graphs (default true). */
  readonly optimizedCache?: boolean;
}

export function defaultCacheDir(): string {
  if (process.env.IPA_BRIDGE_CACHE_DIR) return process.env.IPA_BRIDGE_CACHE_DIR;
  const xdg = process.env.XDG_CACHE_HOME || (process.platform === 'win32' ? process.env.LOCALAPPDATA : undefined);
  const base = xdg || (process.platform === 'darwin' ? join(homedir(), 'Library', 'Caches') : join(homedir(), '.cache'));
  return join(base || tmpdir(), 'ipa-bridge');
}

/** Writes the graph and links its weights into a folder named by the graph's content hash. */
export function materialize(g: BuiltGraph, cacheDir: string, opts: { weightsInMemory?: boolean } = {}): { modelPath: string; externalData: ort.InferenceSession.SessionOptions['externalData'] } {
  const hash = createHash('sha256');
  hash.update(g.model);
  for (const f of g.files) hash.update(`${f.location}=${f.path}:${statSync(f.path).size}:${statSync(f.path).mtimeMs}\n`);
  // onnxruntime takes in-memory external data only as the complete table: given any entry, a weight
  // file it should read beside the .onnx is "not found from the table user provided" (a LoRA-merged
  // full-size UNet: memory.bin in memory, the checkpoint hard-linked). So unless every weight goes in
  // memory, the merged tensors are written into the folder too, which their content hash names.
  const memoryToFolder = !opts.weightsInMemory && g.files.length > 0;
  if (memoryToFolder) for (const m of g.memory) hash.update(m.location).update(m.bytes);
  const dir = join(cacheDir, 'graphs', `${g.name}-${hash.digest('hex').slice(0, 16)}`);
  mkdirSync(dir, { recursive: true });
  const externalData: Array<{ path: string; data: Uint8Array }> = [];
  for (const f of g.files) {
    const linked = join(dir, f.location);
    if (opts.weightsInMemory) {
      externalData.push({ path: f.location, data: readFileSync(f.path) });
    } else if (!existsSync(linked)) {
      try {
        // realpath: a Hugging Face cache file is a symlink to its blob, and a hard link to the symlink
        // itself would dangle in this folder (link(2) does not follow it).
        linkSync(realpathSync(f.path), linked);
      } catch {
        // Different filesystem (or no hard links): hand the bytes over in memory.
        externalData.push({ path: f.location, data: readFileSync(f.path) });
      }
    }
  }
  // Weight files already in memory (no hard link possible): the merged tensors join them there.
  const allInMemory = !memoryToFolder || externalData.length > 0;
  for (const m of g.memory) {
    const file = join(dir, m.location);
    if (allInMemory) externalData.push({ path: m.location, data: m.bytes });
    else if (!existsSync(file)) {
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, m.bytes);
      renameSync(tmp, file);
    }
  }
  const modelPath = join(dir, 'model.onnx');
  if (!existsSync(modelPath)) {
    const tmp = `${modelPath}.${process.pid}.tmp`;
    writeFileSync(tmp, g.model);
    renameSync(tmp, modelPath);
  } else {
    const now = new Date();
    utimesSync(modelPath, now, now); // last use, for pruning
  }
  if (memoryToFolder && g.memory.length > 0) pruneMergedGraphs(join(cacheDir, 'graphs'), g.name, MERGED_GRAPHS_KEPT);
  return { modelPath, externalData: externalData.length ? externalData : undefined };
}

/**
 * Folders of one graph with merged weights (a LoRA, its strength, FaceID) kept on disk, most recently
 * used first. Each holds the merged tensors and, on CPU, an optimised copy of the whole graph (about the
 * UNet's size again), and every LoRA or strength a designer tries makes a new one: without a bound the
 * cache grows by gigabytes per switch. Two covers switching back and forth between two LoRAs.
 */
const MERGED_GRAPHS_KEPT = Number(process.env.IPA_BRIDGE_MERGED_GRAPHS_KEPT ?? 2);

/** Deletes all but the `keep` most recently used folders of graph `name` that hold merged weights. */
export function pruneMergedGraphs(graphsDir: string, name: string, keep: number): string[] {
  const isFolderOf = (d: string): boolean => d.startsWith(`${name}-`) && /^[0-9a-f]{16}$/.test(d.slice(name.length + 1));
  const merged = readdirSync(graphsDir)
    .filter((d) => isFolderOf(d) && existsSync(join(graphsDir, d, MEMORY_LOCATION)) && existsSync(join(graphsDir, d, 'model.onnx')))
    .map((d) => ({ d, used: statSync(join(graphsDir, d, 'model.onnx')).mtimeMs }))
    .sort((a, b) => b.used - a.used);
  const removed: string[] = [];
  for (const { d } of merged.slice(Math.max(0, keep))) {
    try {
      rmSync(join(graphsDir, d), { recursive: true, force: true });
      removed.push(d);
    } catch {
      // Still open elsewhere (Windows refuses to delete open files): the next prune tries again.
    }
  }
  return removed;
}

/**
 * On CPU, onnxruntime's full optimisation of a 3.4 GB UNet (layout transforms, constant folding of
 * the weight transposes) takes ~50 s; loading the already-optimised graph takes ~6 s (measured on
 * the 2-core machine, bench/unet-step.ts). So the first session saves its optimised graph (with the
 * folded weights as external data) beside the graph file, and later sessions load that. The saved
 * graph is specific to this onnxruntime version and CPU, which the file name carries.
 */
function optimizedPaths(modelPath: string): { model: string; weights: string } {
  const cpu = createHash('sha256').update(`${cpus()[0]?.model ?? ''}|${process.arch}|${ort.env.versions?.common ?? ''}`).digest('hex').slice(0, 12);
  return { model: modelPath.replace(/model\.onnx$/, `optimized-${cpu}.onnx`), weights: `optimized-${cpu}.bin` };
}

/** Below this, optimising at load is quick and a cache file is not worth the disk space. */
const OPTIMIZED_CACHE_MIN_BYTES = Number(process.env.IPA_BRIDGE_OPT_CACHE_MIN_BYTES ?? 64 * 1024 * 1024);

/**
 * Saving the optimised copy holds the graph twice while it is written. Measured on a 24 GiB machine:
 * the SD1.5 UNet (3.2 GB fp32) peaked at 1.48× its weights; the SDXL UNet (9.6 GB fp32) passed 15.7 GiB
 * (1.65×) and was still rising. fp16 files are widened to fp32 at load, so they cost twice their size.
 * So the copy is written only when 4× the referenced file bytes fit in the machine's memory; bigger
 * graphs load without it (1.16× for the SDXL UNet), at the cost of optimising on every load.
 */
export function optimizedCacheFits(weightFileBytes: number, totalMemoryBytes = totalmem()): boolean {
  return weightFileBytes * 4 <= totalMemoryBytes;
}

/** IPA_BRIDGE_GRAPH_OPT=disabled|basic|extended|all (default all): for tracking down a provider's fault. */
function graphOptimizationLevel(): 'disabled' | 'basic' | 'extended' | 'all' {
  const v = process.env.IPA_BRIDGE_GRAPH_OPT;
  return v === 'disabled' || v === 'basic' || v === 'extended' ? v : 'all';
}

export async function createSession(g: BuiltGraph, opts: SessionOptions): Promise<ort.InferenceSession> {
  // CoreML: onnxruntime's CoreML provider has crashed (SIGBUS) resolving external-data files next to a
  // model loaded from a path (onnxruntime issue #28005, fixed upstream in PR #28062); weights handed
  // over in memory avoid that path. Not run here (no Mac): see docs/providers.md.
  const { modelPath, externalData } = materialize(g, opts.cacheDir ?? defaultCacheDir(), { weightsInMemory: opts.provider === 'coreml' });
  const so: ort.InferenceSession.SessionOptions = {
    executionProviders: executionProviders(opts.provider),
    ...providerSessionOptions(opts.provider),
    graphOptimizationLevel: graphOptimizationLevel(),
    logSeverityLevel: 3, // errors only: the optimised-graph cache is meant for this machine, no need to warn
  };
  // onnxruntime-node rejects keys that are present but undefined.
  if (opts.intraOpThreads !== undefined) so.intraOpNumThreads = opts.intraOpThreads;
  const enabled = opts.optimizedCache ?? process.env.IPA_BRIDGE_OPTIMIZED_CACHE !== '0';
  const bytes = opts.provider === 'cpu' && enabled && !externalData ? weightBytes(g) : 0;
  const useCache = bytes >= OPTIMIZED_CACHE_MIN_BYTES && optimizedCacheFits(bytes);
  const opt = optimizedPaths(modelPath);
  try {
    if (useCache && existsSync(opt.model) && existsSync(join(dirname(opt.model), opt.weights))) {
      try {
        return await ort.InferenceSession.create(opt.model, { ...so, graphOptimizationLevel: 'disabled' });
      } catch {
        // A damaged or foreign cache file: rebuild it below.
      }
    }
    if (externalData) so.externalData = externalData;
    if (useCache) {
      so.optimizedModelFilePath = opt.model;
      so.extra = { session: { optimized_model_external_initializers_file_name: opt.weights, optimized_model_external_initializers_min_size_in_bytes: '1024' } };
    } else if (opts.optimizedModelPath) {
      so.optimizedModelFilePath = opts.optimizedModelPath;
    }
    return await ort.InferenceSession.create(modelPath, so);
  } catch (e) {
    throw new Error(`onnxruntime could not load graph "${g.name}" (${modelPath}): ${(e as Error).message}`);
  }
}

function weightBytes(g: BuiltGraph): number {
  let n = g.memory.reduce((a, m) => a + m.bytes.byteLength, 0);
  for (const f of g.files) n += statSync(f.path).size;
  return n;
}
