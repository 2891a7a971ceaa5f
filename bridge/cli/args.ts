/** Argument parsing shared by the commands (node:util parseArgs plus typed number checks). */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | string[] | undefined>;

export function parse(argv: string[], options: Options): Values {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }).values as Values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function str(v: Values, name: string): string | undefined {
  const x = v[name];
  if (Array.isArray(x)) return x[x.length - 1];
  return typeof x === 'string' ? x : undefined;
}

export function strs(v: Values, name: string): string[] {
  const x = v[name];
  return Array.isArray(x) ? x : typeof x === 'string' ? [x] : [];
}

export function num(v: Values, name: string, min: number, max: number, integer = false): number | undefined {
  const s = str(v, name);
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
    throw new UsageError(`--${name} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max} (got "${s}")`);
  }
  return n;
}

export function flag(v: Values, name: string): boolean {
  return v[name] === true;
}
