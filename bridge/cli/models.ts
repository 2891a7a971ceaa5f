/** `ipa-bridge models …`: the command tree lives with model management in bridge/models/cli.ts. */
import type { Command } from 'commander';
import { modelsCommand as buildModelsCommand } from '../models/cli.ts';

export function modelsCommand(ran: (code: number) => void): Command {
  return buildModelsCommand({ stdout: process.stdout, stderr: process.stderr, env: process.env }, ran);
}
