/**
 * Where the daemon gets its Engine from. The real one is engine/index.ts's `createEngine`; tests and
 * experiments can name another module exporting the same factory with `--engine MODULE` or
 * IPA_BRIDGE_ENGINE=MODULE ("test" = test/helpers/test-engine.ts in a checkout).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Engine } from '../engine/api.ts';
import type { Provider } from './config.ts';

export interface EngineFactoryOptions {
  modelsDir?: string;
  provider: Provider;
}

export type EngineFactory = (opts: EngineFactoryOptions) => Promise<Engine>;

export class EngineLoadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineLoadError';
  }
}

/** `spec` undefined = the real engine. */
export async function loadEngineFactory(spec: string | undefined = process.env.IPA_BRIDGE_ENGINE): Promise<EngineFactory> {
  if (!spec || spec === 'default') return realEngine();
  const path = spec === 'test' ? testEnginePath() : resolve(spec);
  if (!existsSync(path)) throw new EngineLoadError(`engine module ${path} does not exist`);
  const mod = await importMaybeTs(path);
  if (typeof mod.createEngine !== 'function') throw new EngineLoadError(`${path} does not export createEngine(opts)`);
  return mod.createEngine as EngineFactory;
}

async function realEngine(): Promise<EngineFactory> {
  const [{ createEngine }, { registryLocator }] = await Promise.all([import('../engine/index.ts'), import('./models/locator.ts')]);
  return (opts) => createEngine({ provider: opts.provider, models: registryLocator(opts.modelsDir) });
}

/** The test engine lives in the checkout's test/ folder (from bridge/ or from dist/bridge/). */
function testEnginePath(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  for (const up of ['..', '../..']) {
    const p = resolve(here, up, 'test/helpers/test-engine.ts');
    if (existsSync(p)) return p;
  }
  throw new EngineLoadError('--engine test needs a source checkout (test/helpers/test-engine.ts not found)');
}

/** Imports a module; a .ts one from the bundled CLI (no tsx loader yet) after registering tsx. */
async function importMaybeTs(path: string): Promise<{ createEngine?: unknown }> {
  const url = pathToFileURL(path).href;
  try {
    return (await import(url)) as { createEngine?: unknown };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw e;
    const { register } = await import('tsx/esm/api');
    register();
    // A fresh URL: the failed load above stays cached under the plain one.
    return (await import(`${url}?tsx`)) as { createEngine?: unknown };
  }
}
