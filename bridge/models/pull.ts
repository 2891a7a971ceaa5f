/**
 * `models pull <preset>`: fetches every file of a preset into a Hugging Face cache folder (the user's
 * own hub cache unless another folder is named), where diffusers and the hub CLI find them too.
 * Files already there with the right hash are kept; one failing file does not stop the others,
 * except when the hub cannot be reached or the disk is full (every other file would fail the same way).
 */
import { DiskSpaceError, downloadFile, type DownloadOptions, type DownloadResult } from './download.ts';
import type { HashCache } from './hash-cache.ts';
import { HubError } from './hub.ts';
import { detectLayout } from './layouts.ts';
import type { Preset, PresetFile } from './presets.ts';
import { progressBar, type TextStream } from './progress.ts';

export interface PullOptions extends Omit<DownloadOptions, 'onProgress' | 'hashCache'> {
  readonly modelsDir: string;
  readonly hashCache?: HashCache;
  /** Where progress goes (stderr); none when omitted. */
  readonly progress?: TextStream;
}

export interface PulledFile {
  readonly file: PresetFile;
  /** Where the file is (its snapshot path), or `repo/path` when it could not be fetched. */
  readonly dest: string;
  readonly result?: DownloadResult;
  readonly error?: Error;
}

export interface PullResult {
  readonly preset: string;
  readonly modelsDir: string;
  readonly files: readonly PulledFile[];
  readonly ok: boolean;
}

export class PullTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PullTargetError';
  }
}

/** Other applications' model folders are read, never written (their own tools manage them). */
export function checkPullTarget(dir: string): void {
  const layout = detectLayout(dir);
  if (layout.kind === 'comfyui' || layout.kind === 'a1111') {
    const app = layout.kind === 'comfyui' ? 'ComfyUI' : 'A1111/Forge';
    throw new PullTargetError(
      `${dir} is a ${app} folder; ipa-bridge reads it but never writes into it. Pull into a folder of its own (omit --models to use the default download folder); models already in ${dir} are still found.`,
    );
  }
}

export async function pullPreset(preset: Preset, opts: PullOptions): Promise<PullResult> {
  checkPullTarget(opts.modelsDir);
  const files: PulledFile[] = [];
  let fatal: Error | undefined;
  for (const file of preset.files) {
    const label = `${file.repo}/${file.path}`;
    if (fatal) {
      files.push({ file, dest: label, error: fatal });
      continue;
    }
    const bar = opts.progress ? progressBar(label, opts.progress) : undefined;
    try {
      const result = await downloadFile(
        { repo: file.repo, revision: file.revision, path: file.path, cacheDir: opts.modelsDir, sha256: file.sha256, size: file.size },
        { ...opts, hashCache: opts.hashCache, onProgress: bar ? (p) => bar.update(p) : undefined },
      );
      bar?.done();
      files.push({ file, dest: result.path, result });
    } catch (e) {
      bar?.done();
      const error = e as Error;
      files.push({ file, dest: label, error });
      if ((e instanceof HubError && e.code === 'offline') || e instanceof DiskSpaceError) fatal = error;
    }
  }
  return { preset: preset.name, modelsDir: opts.modelsDir, files, ok: files.every((f) => !f.error) };
}
