/**
 * Which folders of a models root to scan, and what each folder is for. Detected from the root path:
 *
 * - ipa-bridge (our own, what `models pull` writes):
 *     <root>/checkpoints  controlnet  ipadapter  clip_vision  insightface/buffalo_l  loras
 *     <root>/annotators (DWPose, depth ONNX)  tokenizer (vocab.json + merges.txt)
 * - ComfyUI: the install folder (<root>/models/...) or its models folder: checkpoints, diffusers,
 *   controlnet, ipadapter, clip_vision, insightface (models/buffalo_l inside), loras, vae; plus
 *   custom_nodes/comfyui_controlnet_aux/ckpts (annotators) and comfy/sd1_tokenizer from an install.
 * - A1111 / Forge: the webui folder or its models folder: models/Stable-diffusion, models/ControlNet,
 *   extensions/sd-webui-controlnet/models, models/Lora, models/insightface, models/VAE,
 *   extensions/sd-webui-controlnet/annotator/downloads, models/ControlNetPreprocessor (Forge).
 * - Hugging Face hub cache (what diffusers, transformers, the hub CLI and `models pull` write):
 *   models--<org>--<name>/snapshots/<commit>/<files> — one snapshot per repo (the one refs/main
 *   names, else the newest), named "<org>/<name>/<path>".
 * - InvokeAI: the root (invokeai.yaml) or its models folder: models/<base>/<type>/<name> (sd-1/main,
 *   sd-1/controlnet, sd-1/ip_adapter, any/clip_vision, …), scanned recursively.
 * - Fooocus: the install (entry_with_update.py, config.txt) or its models folder: checkpoints, loras,
 *   controlnet, clip_vision, vae, plus the folders config.txt's path_* settings name.
 * - flat: anything else; scanned recursively, every file classified by content.
 *
 * Pure path logic; the only I/O is existence checks and reading refs and config files.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve, dirname, isAbsolute } from 'node:path';
import type { ModelKind } from '../../engine/weights/detect.ts';
import { repoFromFolder } from './hub.ts';

export type LayoutKind = 'ipa-bridge' | 'comfyui' | 'a1111' | 'hf-cache' | 'invokeai' | 'fooocus' | 'flat';

export interface ScanDir {
  readonly path: string;
  /** What the folder holds by convention; a hint for files that cannot be read (pickles). */
  readonly folderKind?: ModelKind;
  /**
   * The name models in this folder go by, in place of the folder itself: a hub cache snapshot
   * `…/models--h94--IP-Adapter/snapshots/<commit>` is "h94/IP-Adapter". It also classifies where
   * file names cannot (the repo `lllyasviel/control_v11p_sd15_openpose` says "pose").
   */
  readonly label?: string;
}

export interface Layout {
  readonly kind: LayoutKind;
  readonly root: string;
  readonly dirs: readonly ScanDir[];
}

/** Our own layout: folder name -> what it holds. `models pull` writes preset files under these. */
export const OWN_LAYOUT: ReadonlyArray<readonly [string, ModelKind | undefined]> = [
  ['checkpoints', 'checkpoint'],
  ['controlnet', 'controlnet'],
  ['ipadapter', 'ipadapter'],
  ['clip_vision', 'clip_vision'],
  ['insightface', 'insightface'],
  ['loras', 'lora'],
  ['annotators', undefined],
  ['tokenizer', 'tokenizer'],
  ['vae', 'vae'],
];

const COMFY_MODELS: ReadonlyArray<readonly [string, ModelKind | undefined]> = [
  ['checkpoints', 'checkpoint'],
  ['diffusers', 'diffusers'],
  ['controlnet', 'controlnet'],
  ['ipadapter', 'ipadapter'],
  ['clip_vision', 'clip_vision'],
  ['insightface', 'insightface'],
  ['loras', 'lora'],
  ['vae', 'vae'],
  // ComfyUI keeps TAESD's taesd_decoder.safetensors / taesdxl_decoder.safetensors here.
  ['vae_approx', 'vae'],
];

const A1111_MODELS: ReadonlyArray<readonly [string, ModelKind | undefined]> = [
  ['Stable-diffusion', 'checkpoint'],
  ['ControlNet', 'controlnet'],
  ['Lora', 'lora'],
  ['insightface', 'insightface'],
  ['VAE', 'vae'],
  ['clip_vision', 'clip_vision'],
  ['ipadapter', 'ipadapter'],
  ['ControlNetPreprocessor', undefined],
];

/** Folder names only ComfyUI's models folder has (ours shares checkpoints/controlnet/...). */
const COMFY_ONLY = ['upscale_models', 'vae_approx', 'diffusers', 'unet', 'diffusion_models', 'text_encoders', 'clip', 'embeddings', 'configs', 'style_models', 'gligen', 'hypernetworks', 'photomaker'];

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function existingDirs(base: string, table: ReadonlyArray<readonly [string, ModelKind | undefined]>): ScanDir[] {
  return table.filter(([name]) => isDir(join(base, name))).map(([name, folderKind]) => ({ path: join(base, name), folderKind }));
}

function extraDirs(candidates: ReadonlyArray<readonly [string, ModelKind | undefined]>): ScanDir[] {
  return candidates.filter(([p]) => isDir(p)).map(([path, folderKind]) => ({ path, folderKind }));
}

function comfyInstall(root: string): Layout {
  return {
    kind: 'comfyui',
    root,
    dirs: [
      ...existingDirs(join(root, 'models'), COMFY_MODELS),
      ...extraDirs([
        [join(root, 'custom_nodes', 'comfyui_controlnet_aux', 'ckpts'), undefined],
        [join(root, 'comfy', 'sd1_tokenizer'), 'tokenizer'],
      ]),
    ],
  };
}

function a1111Install(root: string): Layout {
  const ext = join(root, 'extensions', 'sd-webui-controlnet');
  return {
    kind: 'a1111',
    root,
    dirs: [
      ...existingDirs(join(root, 'models'), A1111_MODELS),
      ...extraDirs([
        [join(ext, 'models'), 'controlnet'],
        [join(ext, 'annotator', 'downloads'), undefined],
      ]),
    ],
  };
}

/** Folder names of a Hugging Face hub cache (`models--org--name`). */
function hubRepos(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => n.startsWith('models--') && isDir(join(dir, n, 'snapshots')));
  } catch {
    return [];
  }
}

/** The snapshot a repo's refs/main points at, else the most recently written one. */
function currentSnapshot(repoDir: string): string | undefined {
  const snapshots = join(repoDir, 'snapshots');
  try {
    const ref = readFileSync(join(repoDir, 'refs', 'main'), 'utf8').trim();
    if (ref && isDir(join(snapshots, ref))) return join(snapshots, ref);
  } catch {
    // no refs/main (a pinned revision, or a copied cache): take the newest snapshot
  }
  let best: { path: string; mtime: number } | undefined;
  for (const name of readdirSafe(snapshots)) {
    const path = join(snapshots, name);
    try {
      const st = statSync(path);
      if (st.isDirectory() && (!best || st.mtimeMs > best.mtime)) best = { path, mtime: st.mtimeMs };
    } catch {
      // vanished
    }
  }
  return best?.path;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function hubCache(root: string): Layout {
  const dirs: ScanDir[] = [];
  for (const folder of hubRepos(root)) {
    const repo = repoFromFolder(folder);
    const snap = repo ? currentSnapshot(join(root, folder)) : undefined;
    if (repo && snap) dirs.push({ path: snap, label: repo });
  }
  return { kind: 'hf-cache', root, dirs };
}

/** InvokeAI keeps models as models/<base>/<type>/<name> (3.x–5.x); content decides what each is. */
function invokeAi(root: string, modelsDir: string): Layout {
  return { kind: 'invokeai', root, dirs: isDir(modelsDir) ? [{ path: modelsDir }] : [] };
}

const FOOOCUS_MODELS: ReadonlyArray<readonly [string, ModelKind | undefined]> = [
  ['checkpoints', 'checkpoint'],
  ['loras', 'lora'],
  ['controlnet', 'controlnet'],
  ['clip_vision', 'clip_vision'],
  ['vae', 'vae'],
];

/** config.txt's path_checkpoints / path_loras / path_controlnet / path_clip_vision (a string or a list), relative to the install. */
function fooocusConfigDirs(install: string): ScanDir[] {
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(readFileSync(join(install, 'config.txt'), 'utf8')) as Record<string, unknown>;
  } catch {
    return [];
  }
  const out: ScanDir[] = [];
  const keys: ReadonlyArray<readonly [string, ModelKind | undefined]> = [['path_checkpoints', 'checkpoint'], ['path_loras', 'lora'], ['path_controlnet', 'controlnet'], ['path_clip_vision', 'clip_vision']];
  for (const [key, folderKind] of keys) {
    const v = cfg[key];
    for (const p of Array.isArray(v) ? v : [v]) {
      if (typeof p !== 'string' || !p) continue;
      const path = isAbsolute(p) ? p : resolve(install, p);
      if (isDir(path)) out.push({ path, folderKind });
    }
  }
  return out;
}

function fooocus(root: string, install: string, modelsDir: string): Layout {
  const dirs = [...existingDirs(modelsDir, FOOOCUS_MODELS), ...fooocusConfigDirs(install)];
  const seen = new Set<string>();
  return { kind: 'fooocus', root, dirs: dirs.filter((d) => !seen.has(d.path) && seen.add(d.path)) };
}

export function detectLayout(rootPath: string): Layout {
  const root = resolve(rootPath);
  if (!isDir(root)) return { kind: 'flat', root, dirs: [] };
  // The hub cache itself, or HF_HOME (which holds it as hub/).
  if (hubRepos(root).length > 0) return hubCache(root);
  if (hubRepos(join(root, 'hub')).length > 0) return hubCache(join(root, 'hub'));
  // InvokeAI: its root (invokeai.yaml) or its models folder (models/<base>/<type>).
  if (existsSync(join(root, 'invokeai.yaml'))) return invokeAi(root, join(root, 'models'));
  if (isDir(join(root, 'sd-1')) || (isDir(join(root, 'any')) && isDir(join(root, 'core')))) return invokeAi(root, root);
  // Fooocus before ComfyUI: both have models/checkpoints, only Fooocus has prompt_expansion.
  if (existsSync(join(root, 'entry_with_update.py')) || existsSync(join(root, 'fooocus_version.py')) || isDir(join(root, 'models', 'prompt_expansion'))) return fooocus(root, root, join(root, 'models'));
  if (isDir(join(root, 'prompt_expansion'))) return fooocus(root, dirname(root), root);
  // Install folders first: they hold a models/ folder with the app's signature inside.
  if (isDir(join(root, 'models', 'Stable-diffusion')) || isDir(join(root, 'extensions', 'sd-webui-controlnet'))) return a1111Install(root);
  const comfyModels = COMFY_MODELS.some(([name]) => isDir(join(root, 'models', name)));
  if (comfyModels || existsSync(join(root, 'comfy')) || isDir(join(root, 'custom_nodes'))) return comfyInstall(root);
  // A webui or ComfyUI "models" folder given directly.
  if (isDir(join(root, 'Stable-diffusion'))) {
    const layout = a1111Install(dirname(root));
    return { kind: 'a1111', root, dirs: [...existingDirs(root, A1111_MODELS), ...layout.dirs.filter((d) => !d.path.startsWith(root))] };
  }
  const own = OWN_LAYOUT.some(([name]) => (name === 'annotators' || name === 'tokenizer') && isDir(join(root, name)));
  if (!own && isDir(join(root, 'checkpoints')) && COMFY_ONLY.some((n) => isDir(join(root, n)))) {
    return { kind: 'comfyui', root, dirs: existingDirs(root, COMFY_MODELS) };
  }
  const ownDirs = existingDirs(root, OWN_LAYOUT);
  if (ownDirs.length > 0) return { kind: 'ipa-bridge', root, dirs: ownDirs };
  return { kind: 'flat', root, dirs: [{ path: root }] };
}
