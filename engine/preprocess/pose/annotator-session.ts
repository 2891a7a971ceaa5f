/**
 * Loads the annotator ONNX models (DWPose detector / pose, depth) from paths the caller resolved
 * through the model registry, with the errors a user can act on: which file is missing and the command
 * that fetches it. Sessions are cached per (path, provider) since yolox_l.onnx alone is ~200 MB.
 */
import { existsSync, statSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { EngineError } from '../../api.ts';

export type AnnotatorRole = 'dwpose:detector' | 'dwpose:pose' | 'depth';

export const PULL_COMMAND = 'npx ipa-bridge models pull annotators';

/** What each role expects on disk (the files of the `annotators` preset). */
export const ANNOTATOR_FILES: Readonly<Record<AnnotatorRole, { readonly label: string; readonly file: string }>> = {
  'dwpose:detector': { label: 'DWPose person detector', file: 'yolox_l.onnx' },
  'dwpose:pose': { label: 'DWPose pose estimator', file: 'dw-ll_ucoco_384.onnx' },
  depth: { label: 'Depth-Anything depth estimator', file: 'depth_anything_v2_small.onnx' },
};

export interface AnnotatorSessionOptions {
  readonly provider?: 'cpu' | 'cuda';
  readonly intraOpThreads?: number;
  /** Request field to name in errors (e.g. "controls[0].preprocess"). */
  readonly field?: string;
}

const cache = new Map<string, Promise<ort.InferenceSession>>();

export function missingModelError(role: AnnotatorRole, path: string | undefined, field?: string): EngineError {
  const { label, file } = ANNOTATOR_FILES[role];
  const where = path ? `not found at ${path}` : 'not installed (no model registered for role "' + role + '")';
  return new EngineError('model-missing', `${label} ${file} is ${where}. Fetch it with: ${PULL_COMMAND}`, field);
}

/** Throws one 'model-missing' error naming every missing file of `needed` (checked before any load). */
export function requireAnnotatorFiles(needed: ReadonlyArray<{ readonly role: AnnotatorRole; readonly path: string | undefined }>, field?: string): void {
  const missing = needed.filter((n) => !n.path || !existsSync(n.path) || !statSync(n.path).isFile());
  if (missing.length === 0) return;
  if (missing.length === 1) throw missingModelError(missing[0].role, missing[0].path, field);
  const list = missing.map((m) => `${ANNOTATOR_FILES[m.role].file}${m.path ? ` (looked at ${m.path})` : ''}`).join(', ');
  throw new EngineError('model-missing', `annotator models missing: ${list}. Fetch them with: ${PULL_COMMAND}`, field);
}

export async function loadAnnotator(role: AnnotatorRole, path: string | undefined, opts: AnnotatorSessionOptions = {}): Promise<ort.InferenceSession> {
  if (!path || !existsSync(path) || !statSync(path).isFile()) throw missingModelError(role, path, opts.field);
  const provider = opts.provider ?? 'cpu';
  const key = `${provider}|${opts.intraOpThreads ?? ''}|${path}|${statSync(path).mtimeMs}`;
  let p = cache.get(key);
  if (!p) {
    const so: ort.InferenceSession.SessionOptions = {
      executionProviders: provider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
      graphOptimizationLevel: 'all',
    };
    if (opts.intraOpThreads !== undefined) so.intraOpNumThreads = opts.intraOpThreads;
    p = ort.InferenceSession.create(path, so).catch((e: unknown) => {
      cache.delete(key);
      const { label } = ANNOTATOR_FILES[role];
      throw new EngineError('model-invalid', `${label} ${path} could not be loaded by onnxruntime: ${(e as Error).message}. Re-fetch it with: ${PULL_COMMAND}`, opts.field);
    });
    cache.set(key, p);
  }
  return p;
}

/** Releases every cached annotator session. */
export async function disposeAnnotatorSessions(): Promise<void> {
  const all = [...cache.values()];
  cache.clear();
  await Promise.all(all.map(async (p) => {
    try {
      await (await p).release();
    } catch {
      // a failed load has nothing to release
    }
  }));
}

/** Static [N, C, H, W] dims of a session input, or undefined per dim when symbolic. */
export function inputDims(session: ort.InferenceSession, index = 0): Array<number | undefined> | undefined {
  const meta = session.inputMetadata[index];
  if (!meta || !meta.isTensor) return undefined;
  return meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : undefined));
}
