/**
 * `ipa-bridge models ...`: model management lives in bridge/models/ (its own module); this hands the
 * arguments over, loading that module only when the command is used.
 */
export async function runModels(argv: string[]): Promise<number> {
  const { runModelsCommand } = await import('../models/cli.ts');
  return runModelsCommand(argv);
}
