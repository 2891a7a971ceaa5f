/** Logging: one line per event on stderr (stdout carries only the machine-readable "listening" line). */

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string, cause?: unknown): void;
  /** Only with --verbose. */
  debug(msg: string): void;
  readonly verbose: boolean;
}

export function createLogger(verbose: boolean, write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Logger {
  const stamp = (): string => new Date().toISOString().slice(11, 23);
  return {
    verbose,
    info: (m) => write(`${stamp()} ${m}`),
    warn: (m) => write(`${stamp()} warning: ${m}`),
    error: (m, cause) => write(`${stamp()} error: ${m}${cause ? `: ${describeCause(cause, verbose)}` : ''}`),
    debug: (m) => {
      if (verbose) write(`${stamp()} ${m}`);
    },
  };
}

export const silentLogger: Logger = { verbose: false, info() {}, warn() {}, error() {}, debug() {} };

function describeCause(cause: unknown, withStack: boolean): string {
  if (cause instanceof Error) {
    const inner = (cause as Error & { cause?: unknown }).cause;
    const text = withStack && cause.stack ? cause.stack : `${cause.name}: ${cause.message}`;
    return inner ? `${text} (caused by ${describeCause(inner, false)})` : text;
  }
  return String(cause);
}
