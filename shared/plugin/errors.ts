/** What both panels say when a generation fails: one text per failure, whichever plugin shows it. Pure. */
import { BridgeError } from '../protocol/client.ts';

/** A problem the user can fix; shown as is. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

export function isCancelled(e: unknown): boolean {
  return e instanceof BridgeError && e.code === 'cancelled';
}

export function errorText(e: unknown): string {
  if (e instanceof UserError) return e.message;
  if (e instanceof BridgeError) {
    switch (e.code) {
      case 'closed': return 'The connection to the daemon closed and the job could not be picked up again. Generate again.';
      case 'engine-unavailable': return `The daemon has no working engine: ${e.message}`;
      case 'engine-crashed': return `The daemon's engine stopped while generating (it restarts by itself): ${e.message}`;
      case 'queue-full': case 'rate-limited': return `The daemon is busy: ${e.message}`;
      default: return e.message;
    }
  }
  return e instanceof Error ? e.message : String(e);
}
