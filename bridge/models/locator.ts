/**
 * The engine's view of the model registry: find a model for a role, with its sha256 — for files and
 * for model folders (diffusers pipelines, tokenizers: the hash of their files' hashes), so a result's
 * metadata names every model it used exactly. Hashes come from the hash cache; a model the cache does
 * not know yet is hashed when a job first needs it (once: the cache keeps it; `ipa-bridge start`
 * hashes everything in the background to get ahead of that). `hashes: 'cached'` skips hashing (the
 * metadata then has "" for unknown hashes). A miss rescans once, so models added while the daemon
 * runs are found.
 */
import type { LocatedModel, ModelLocator, ModelSummary } from '../../engine/api.ts';
import { resolveRoots } from './config.ts';
import { HashCache } from './hash-cache.ts';
import { cacheDir } from './paths.ts';
import { ModelRegistry } from './registry.ts';
import type { ModelEntry } from './scan.ts';

export function registryLocator(modelsDir?: string, opts: { readonly hashes?: 'compute' | 'cached' } = {}): ModelLocator {
  const { roots } = resolveRoots(modelsDir ? [modelsDir] : []);
  const cache = new HashCache(cacheDir());
  let registry = ModelRegistry.scan(roots);
  const hashOf = (e: ModelEntry): string | undefined => {
    if (opts.hashes === 'cached') return e.isDirectory ? cache.cachedFolder(e.path) : cache.cached(e.path);
    try {
      return e.isDirectory ? cache.folderSha256Sync(e.path) : cache.sha256Sync(e.path);
    } catch {
      return undefined; // unreadable now; the job itself will say so
    }
  };
  const locate = (role: string, name?: string): LocatedModel => {
    const e = registry.find(role, { name });
    return { name: e.name, path: e.path, sha256: hashOf(e) };
  };
  return {
    find(role, name) {
      try {
        return locate(role, name);
      } catch {
        registry = ModelRegistry.scan(roots);
        return locate(role, name);
      }
    },
    async list(): Promise<ModelSummary[]> {
      registry = ModelRegistry.scan(roots);
      await registry.hash('cached', cache);
      return registry.summaries();
    },
  };
}
