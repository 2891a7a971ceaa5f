/**
 * Jobs sent but not yet inserted, kept in the plugin's storage so a result the daemon finished while the
 * panel was closed (or reloaded) still comes back. Each plugin adds its own `context` (where the result
 * goes); the list forgets entries after an hour, as the daemon does.
 */
import type { BridgeClient, JobOutcome } from '../protocol/client.ts';
import { isRecord } from './settings.ts';

/** The storage port: a synchronous key-value store (UXP localStorage, or Figma clientStorage behind a cache). */
export interface KeyValueStore {
  load(key: string): string | null;
  save(key: string, value: string | null): void;
}

export interface PendingJob {
  jobId: string;
  /** deps.now() when it was sent. */
  at: number;
  /** The plugin's own JSON: where the result goes. */
  context: Record<string, unknown>;
}

const MAX_AGE_MS = 60 * 60 * 1000;

/** One entry; entries written before `context` existed kept their fields beside the id, so those are the context. */
function parsePending(p: unknown): PendingJob | null {
  if (!isRecord(p) || typeof p.jobId !== 'string') return null;
  const { jobId, at, context, ...rest } = p;
  return { jobId, at: typeof at === 'number' ? at : 0, context: isRecord(context) ? context : rest };
}

export class PendingJobs {
  constructor(private readonly store: KeyValueStore, private readonly key: string, private readonly now: () => number) {}

  list(): PendingJob[] {
    try {
      const v: unknown = JSON.parse(this.store.load(this.key) ?? '[]');
      return Array.isArray(v) ? v.flatMap((p) => parsePending(p) ?? []) : [];
    } catch {
      return [];
    }
  }

  add(p: PendingJob): void {
    const kept = this.list().filter((x) => x.jobId !== p.jobId && this.now() - x.at < MAX_AGE_MS);
    this.store.save(this.key, JSON.stringify([...kept, p]));
  }

  drop(jobId: string): void {
    const all = this.list();
    const rest = all.filter((x) => x.jobId !== jobId);
    if (rest.length !== all.length) this.store.save(this.key, rest.length ? JSON.stringify(rest) : null);
  }

  /**
   * Asks the daemon for every pending job: finished ones come back with their outcome; each is forgotten
   * (unknown to a restarted daemon, or handed over here) and released on the daemon.
   */
  async recover(client: BridgeClient): Promise<Array<{ pending: PendingJob; outcome: JobOutcome }>> {
    const found: Array<{ pending: PendingJob; outcome: JobOutcome }> = [];
    for (const pending of this.list()) {
      try {
        found.push({ pending, outcome: await client.resume(pending.jobId) });
        client.release(pending.jobId);
      } catch {
        // unknown to the daemon (restarted or expired): nothing to recover
      }
      this.drop(pending.jobId);
    }
    return found;
  }
}
