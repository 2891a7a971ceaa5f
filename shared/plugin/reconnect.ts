/**
 * The connection state machine both plugins show: connecting → connected, automatic retries with
 * exponential backoff while the daemon is unreachable or the link dropped, and a stop (no retries) when
 * only the user can fix it (wrong token, incompatible versions). Pure: the driver (connection.ts) owns
 * sockets and timers and feeds events in.
 */
import { DEFAULT_PORT } from '../protocol/constants.ts';

export type ProblemCode =
  /** Nothing listens on the port: the daemon is not running. */
  | 'unreachable'
  /** Something listens but refused the WebSocket: almost always a wrong token. */
  | 'refused'
  /** The daemon speaks another protocol version; `message` is the daemon's own advice. */
  | 'version-mismatch'
  /** An open connection closed. */
  | 'dropped'
  /** Opened, but the handshake failed some other way. */
  | 'handshake'
  /** A studio server reported another certificate fingerprint than the one pinned on first connect. */
  | 'fingerprint-mismatch';

export interface ConnectionProblem {
  code: ProblemCode;
  message: string;
}

export type ConnectionState =
  | { phase: 'idle' }
  | { phase: 'connecting'; attempt: number }
  | { phase: 'connected' }
  | { phase: 'waiting'; attempt: number; delayMs: number; problem: ConnectionProblem }
  | { phase: 'stopped'; problem: ConnectionProblem };

export type ConnectionEvent =
  /** Settings are complete, or the user asked to retry now. */
  | { type: 'start' }
  /** The handshake completed. */
  | { type: 'opened' }
  | { type: 'failed'; problem: ConnectionProblem }
  /** The backoff timer fired. */
  | { type: 'retry-due' }
  /** No token (cleared), or the plugin is closing. */
  | { type: 'stop' };

export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  /** ±fraction of random spread, so several plugins do not retry in lockstep. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 15_000, jitter: 0.2 };

/** Delay before retry number `attempt` (0-based): base·2^attempt, capped, with jitter. `random` ∈ [0, 1). */
export function backoffDelay(attempt: number, random: number, opts: BackoffOptions = DEFAULT_BACKOFF): number {
  const raw = Math.min(opts.capMs, opts.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(raw * (1 - opts.jitter + 2 * opts.jitter * random));
}

/** Problems only the user can fix: retrying on a timer would only fill the daemon's log. */
export function needsUser(problem: ConnectionProblem): boolean {
  return problem.code === 'refused' || problem.code === 'version-mismatch' || problem.code === 'fingerprint-mismatch';
}

export function transition(state: ConnectionState, ev: ConnectionEvent, random: number, opts: BackoffOptions = DEFAULT_BACKOFF): ConnectionState {
  switch (ev.type) {
    case 'start':
      return { phase: 'connecting', attempt: 0 };
    case 'stop':
      return { phase: 'idle' };
    case 'opened':
      return state.phase === 'connecting' ? { phase: 'connected' } : state;
    case 'retry-due':
      return state.phase === 'waiting' ? { phase: 'connecting', attempt: state.attempt } : state;
    case 'failed': {
      if (state.phase !== 'connecting' && state.phase !== 'connected') return state;
      if (needsUser(ev.problem)) return { phase: 'stopped', problem: ev.problem };
      // A drop after a good connection retries quickly; repeated failures back off.
      const attempt = state.phase === 'connected' ? 0 : state.attempt + 1;
      return { phase: 'waiting', attempt, delayMs: backoffDelay(state.phase === 'connected' ? 0 : state.attempt, random, opts), problem: ev.problem };
    }
  }
}

/** What to tell the user, per problem; `port` goes into the commands. */
export interface ProblemHelp {
  /** A few words for a status line. */
  status: string;
  title: string;
  detail: string;
  /** A command to run on the daemon's computer. */
  command?: string;
}

export function problemHelp(problem: ConnectionProblem, port: number): ProblemHelp {
  switch (problem.code) {
    case 'unreachable':
      return {
        status: 'Daemon not running',
        title: 'The ipa-bridge daemon is not running',
        detail: `Nothing answers on localhost:${port}. Start the daemon on this computer (in the ipa-bridge folder: npm start), then it connects by itself.`,
        command: port === DEFAULT_PORT ? 'npx ipa-bridge start' : `npx ipa-bridge start --port ${port}`,
      };
    case 'refused':
      return {
        status: 'Connection refused: check the token',
        title: 'The daemon refused the connection',
        detail: 'This is almost always a wrong pairing token. Print the token on the daemon\'s computer and paste it here.',
        command: 'npx ipa-bridge token',
      };
    case 'version-mismatch':
      return { status: 'Version mismatch', title: 'Plugin and daemon versions differ', detail: problem.message };
    case 'dropped':
      return { status: 'Reconnecting…', title: 'Connection lost', detail: `${problem.message}. Reconnecting…` };
    case 'handshake':
      return { status: 'Handshake failed', title: 'The daemon did not complete the handshake', detail: problem.message };
    case 'fingerprint-mismatch':
      return {
        status: 'Server certificate changed: refused',
        title: "The studio server's certificate is not the one seen before",
        detail: `${problem.message} If the server was reinstalled, ask its admin for the fingerprint (npx ipa-bridge team fingerprint on the server), compare, and pin it again; otherwise someone may be intercepting the connection.`,
        command: 'npx ipa-bridge team fingerprint',
      };
  }
}
