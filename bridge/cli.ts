/**
 * `npx ipa-bridge <command>`: the daemon and its command-line tools, on commander. Exit codes:
 * 0 done, 1 the work failed (network, engine, files), 2 the command line was wrong (unknown option,
 * a value out of range, a missing or unreadable input file, an output path that cannot be written).
 */
import { Command } from 'commander';
import { UsageError } from './cli/args.ts';
import { doctorCommand, installCudaCommand } from './cli/doctor.ts';
import { generateCommand } from './cli/generate.ts';
import { MAIN_DESCRIPTION, MAIN_HELP_AFTER } from './cli/help.ts';
import { modelsCommand } from './cli/models.ts';
import { selftestCommand } from './cli/selftest.ts';
import { startCommand } from './cli/start.ts';
import { tokenCommand } from './cli/token.ts';
import { teamCommand } from './team/cli.ts';
import { parseCommand } from './models/cli.ts';
import { BRIDGE_VERSION } from './version.ts';

async function main(argv: string[]): Promise<number> {
  let code = 0;
  const ran = (c: number): void => void (code = c);
  const program = new Command('ipa-bridge')
    .usage('<command> [options]')
    .description(MAIN_DESCRIPTION)
    .version(BRIDGE_VERSION, '-V, --version')
    // Options after a command name belong to that command (`models list --help` is models list's help).
    .enablePositionalOptions()
    .addHelpText('after', MAIN_HELP_AFTER);
  for (const make of [startCommand, tokenCommand, generateCommand, selftestCommand, modelsCommand, doctorCommand, installCudaCommand, teamCommand]) program.addCommand(make(ran));
  if (argv.length === 0) {
    process.stdout.write(program.helpInformation());
    return 2;
  }
  return (await parseCommand(program, argv, { stdout: process.stdout, stderr: process.stderr, env: process.env })) ?? code;
}

// `npx ipa-bridge --help | head` closes stdout early: that is not an error worth a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

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
