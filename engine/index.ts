/** The engine's entry point for the daemon and the CLI. */
import type { Engine, EngineOptions } from './api.ts';
import { SdEngine } from './engine.ts';

export * from './api.ts';

export async function createEngine(opts: EngineOptions): Promise<Engine> {
  return new SdEngine(opts);
}
export { writeTinyModels } from './synthetic/tiny.ts';
