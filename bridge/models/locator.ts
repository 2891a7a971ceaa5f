/**
 * The engine's view of the model registry: find a model for a role, with its sha256 when the
 * hash cache knows it (hashing a 4 GB checkpoint happens in `models list`, not on a job's path).
 * A miss rescans once, so models added while the daemon runs are found.
 */
import type { LocatedModel, ModelLocator, ModelSummary } from '../../engine/api.ts';
import { resolveRoots } from './config.ts';
import { HashCache } from './hash-cache.ts';
import { cacheDir } from './paths.ts';
import { ModelRegistry } from './registry.ts';

export function registryLocator(modelsDir?: string): ModelLocator {
  const { roots } = resolveRoots(modelsDir ? [modelsDir] : []);
  const cache = new HashCache(cacheDir());
  let registry = ModelRegistry.scan(roots);
  const locate = (role: string, name?: string): LocatedModel => {
    const e = registry.find(role, { name });
    return { name: e.name, path: e.path, sha256: e.isDirectory ? undefined : cache.cached(e.path) };
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
