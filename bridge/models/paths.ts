/**
 * Per-user folders: config (models.json), cache (hash cache) and the default download folder.
 * Environment overrides come first so tests and portable installs never touch the real home:
 * IPA_BRIDGE_CONFIG_DIR, IPA_BRIDGE_CACHE_DIR, IPA_BRIDGE_MODELS_DIR.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { hubCacheDir } from './hub.ts';

export type Env = Readonly<Record<string, string | undefined>>;

const APP = 'ipa-bridge';

export function configDir(env: Env = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env.IPA_BRIDGE_CONFIG_DIR) return env.IPA_BRIDGE_CONFIG_DIR;
  if (platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), APP);
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', APP);
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), APP);
}

export function cacheDir(env: Env = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env.IPA_BRIDGE_CACHE_DIR) return env.IPA_BRIDGE_CACHE_DIR;
  if (platform === 'win32') return join(env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), APP, 'cache');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Caches', APP);
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), APP);
}

/**
 * Where `models pull` puts files when no --models is given: the Hugging Face hub cache, shared with
 * diffusers, the hub CLI and ComfyUI-Manager (IPA_BRIDGE_MODELS_DIR moves it; the layout stays the hub's).
 */
export function defaultModelsDir(env: Env = process.env): string {
  return env.IPA_BRIDGE_MODELS_DIR || hubCacheDir(env);
}

/** The download folder of earlier versions (our own layout); still scanned when it exists. */
export function legacyModelsDir(env: Env = process.env, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32') return join(env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), APP, 'models');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', APP, 'models');
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), APP, 'models');
}

export function modelsConfigFile(env: Env = process.env, platform: NodeJS.Platform = process.platform): string {
  return join(configDir(env, platform), 'models.json');
}
