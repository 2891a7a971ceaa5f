/** `npx ipa-bridge <command>`: the daemon and its command-line tools. */
import { runGenerate } from './cli/generate.ts';
import { MAIN_HELP } from './cli/help.ts';
import { runModels } from './cli/models.ts';
import { runSelftest } from './cli/selftest.ts';
import { runStart } from './cli/start.ts';
import { runToken } from './cli/token.ts';
import { UsageError } from './cli/args.ts';
import { BRIDGE_VERSION } from './version.ts';

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  start: runStart,
  token: runToken,
  generate: runGenerate,
  selftest: runSelftest,
  models: runModels,
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    if (cmd === 'help' && rest[0] && COMMANDS[rest[0]]) return COMMANDS[rest[0]](['--help']);
    process.stdout.write(MAIN_HELP);
    return cmd ? 0 : 2;
  }
  if (cmd === '--version' || cmd === '-V') {
    process.stdout.write(`${BRIDGE_VERSION}\n`);
    return 0;
  }
  const run = COMMANDS[cmd];
  if (!run) {
    process.stderr.write(`unknown command "${cmd}"\n\n${MAIN_HELP}`);
    return 2;
  }
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // The daemon's handles are closed on shutdown; anything left (a stuck engine thread) must not keep us alive.
    setTimeout(() => process.exit(code), 3000).unref();
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`ipa-bridge: ${e.message}\n(see npx ipa-bridge ${process.argv[2] ?? ''} --help)\n`);
      process.exit(2);
    }
    process.stderr.write(`ipa-bridge: ${(e as Error)?.message ?? String(e)}\n`);
    if (process.env.IPA_BRIDGE_DEBUG || process.argv.includes('--verbose')) process.stderr.write(`${(e as Error)?.stack}\n`);
    process.exit(1);
  },
);
