/**
 * The daemon's start-up report on stderr: the model folders that do not exist, what was found per
 * role, and what each feature lacks with the command that fetches it. A daemon that says "ready" with
 * no checkpoint must say so right there, not at the first job.
 */
import { existsSync } from 'node:fs';
import type { Engine } from '../../engine/api.ts';
import type { Logger } from '../log.ts';
import { resolveRoots } from '../models/config.ts';
import { formatMissing, foundByRole, missingFeatures } from '../models/features.ts';
import { HashCache } from '../models/hash-cache.ts';
import { cacheDir } from '../models/paths.ts';
import { ModelRegistry } from '../models/registry.ts';

/** Returns how many features lack models (0 when the engine is unavailable: that is reported on its own). */
export async function logStartupReport(engine: Engine | null, modelsDir: string | undefined, log: Logger): Promise<number> {
  const where = resolveRoots(modelsDir ? [modelsDir] : []);
  for (const root of where.roots) {
    // The default download folder is created by the first `models pull`; anything else was asked for.
    if (existsSync(root)) continue;
    if (modelsDir) log.warn(`--models ${modelsDir}: no such folder (check the path; a ComfyUI, A1111/Forge, InvokeAI or Fooocus folder works as is)`);
    else if (root !== where.downloadDir) log.warn(`model folder ${root} (from ${where.configFile}) does not exist`);
  }
  if (!engine) return 0;
  let models: Array<{ kind: string; name: string }>;
  try {
    models = await engine.listModels();
  } catch (e) {
    log.error('listing models failed', e);
    return 0;
  }
  log.info(`models in ${where.roots.join(', ') || '(no folders)'}: ${models.length === 0 ? 'none found' : `${models.length} found`}`);
  for (const r of foundByRole(models)) log.info(`  ${r.role}: ${r.names.join(', ')}`);
  const missing = missingFeatures(models);
  for (const m of missing) log.warn(formatMissing(m));
  return missing.length;
}

/**
 * Hashes every model in the background (streaming, off the job path), so the first job that uses a
 * big checkpoint finds its sha256 in the cache instead of hashing it then.
 */
export function hashModelsInBackground(modelsDir: string | undefined, log: Logger): void {
  const { roots } = resolveRoots(modelsDir ? [modelsDir] : []);
  const t0 = Date.now();
  const cache = new HashCache(cacheDir());
  const reg = ModelRegistry.scan(roots);
  reg.hash('compute', cache).then(
    () => log.debug(`hashed ${reg.entries.length} models in ${Date.now() - t0} ms (cache misses: ${cache.misses})`),
    (e: unknown) => log.debug(`background hashing stopped: ${(e as Error).message}`),
  );
}
