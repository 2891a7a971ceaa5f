/**
 * Option parsing helpers on top of commander: typed number parsers, the execution-provider options
 * every engine-running command shares, and the one error class for usage mistakes (exit code 2).
 * Everything here runs while the command line is parsed, before any work starts.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { isProviderChoice, PROVIDER_CHOICES, type ProviderChoice } from '../../engine/runtime/providers.ts';

/** A mistake in how the command was called: exit code 2, with a pointer to the command's --help. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

interface NumberRule {
  readonly min: number;
  readonly max: number;
  readonly integer?: boolean;
  readonly multipleOf?: number;
  /** Values outside [min, max] that are accepted anyway (e.g. -1 = random seed). */
  readonly also?: readonly number[];
}

/** A commander argument parser for a number in a range; the message says what is allowed. */
export function numberArg(rule: NumberRule): (value: string) => number {
  const what = `${rule.integer || rule.multipleOf ? 'a whole number' : 'a number'}${rule.multipleOf ? ` that is a multiple of ${rule.multipleOf}` : ''} from ${rule.min} to ${rule.max}${rule.also?.length ? ` (or ${rule.also.join(', ')})` : ''}`;
  return (value: string): number => {
    const n = value.trim() === '' ? NaN : Number(value);
    if (rule.also?.includes(n)) return n;
    const ok = Number.isFinite(n) && (!rule.integer || Number.isInteger(n)) && (!rule.multipleOf || n % rule.multipleOf === 0) && n >= rule.min && n <= rule.max;
    if (!ok) throw new InvalidArgumentError(`must be ${what}.`);
    return n;
  };
}

export const intArg = (min: number, max: number): ((value: string) => number) => numberArg({ min, max, integer: true });

/** Repeatable string option: `--models A --models B` → ['A', 'B']. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export interface ProviderFlags {
  readonly provider?: ProviderChoice;
  readonly cpu?: boolean;
  readonly cuda?: boolean;
}

/** `--provider P` plus the older `--cpu` / `--cuda` spellings; commander refuses any two together. */
export function addProviderOptions(cmd: Command, what = 'execution provider'): Command {
  return cmd
    .addOption(
      new Option('--provider <name>', `${what}: ${PROVIDER_CHOICES.join(', ')} (auto = the best that works on this machine)`)
        .argParser((v: string): ProviderChoice => {
          if (!isProviderChoice(v)) throw new InvalidArgumentError(`must be one of ${PROVIDER_CHOICES.join(', ')}.`);
          return v;
        })
        .conflicts(['cpu', 'cuda']),
    )
    .addOption(new Option('--cpu', 'same as --provider cpu').conflicts(['cuda', 'provider']))
    .addOption(new Option('--cuda', 'same as --provider cuda (needs: npx ipa-bridge install-cuda)').conflicts(['cpu', 'provider']));
}

export function providerFrom(o: ProviderFlags): ProviderChoice {
  if (o.cpu) return 'cpu';
  if (o.cuda) return 'cuda';
  return o.provider ?? 'auto';
}

/** Not in --help: which module provides createEngine (tests use "test"). */
export function addEngineOption(cmd: Command): Command {
  return cmd.addOption(new Option('--engine <module>').hideHelp());
}
