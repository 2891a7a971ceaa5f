/**
 * `ipa-bridge models ...`: model management lives in bridge/models/ (its own module, owned separately);
 * this only hands the arguments over.
 */
export async function runModels(argv: string[]): Promise<number> {
  let mod: { runModelsCommand?: unknown };
  try {
    // @ts-ignore -- bridge/models/cli.ts is written in parallel; remove once it exists.
    mod = (await import('../models/cli.ts')) as { runModelsCommand?: unknown };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_MODULE_NOT_FOUND' && /models[\\/]cli\.ts/.test(err.message)) {
      process.stderr.write('model management is not part of this build yet; point the daemon at a models folder with --models DIR\n');
      return 2;
    }
    throw e;
  }
  if (typeof mod.runModelsCommand !== 'function') throw new Error('bridge/models/cli.ts does not export runModelsCommand(argv)');
  return (mod.runModelsCommand as (argv: string[]) => Promise<number>)(argv);
}
