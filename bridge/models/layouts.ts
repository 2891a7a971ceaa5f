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
 * - flat: anything else; scanned recursively, every file classified by content.
 *
 * Pure path logic; the only I/O is existence checks.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import type { ModelKind } from '../../engine/weights/detect.ts';

export type LayoutKind = 'ipa-bridge' | 'comfyui' | 'a1111' | 'flat';

export interface ScanDir {
  readonly path: string;
  /** What the folder holds by convention; a hint for files that cannot be read (pickles). */
  readonly folderKind?: ModelKind;
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

export function detectLayout(rootPath: string): Layout {
  const root = resolve(rootPath);
  if (!isDir(root)) return { kind: 'flat', root, dirs: [] };
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
