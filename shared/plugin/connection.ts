/**
 * Drives the reconnect state machine over a real socket: opens `ws://host:port/?token=…`, runs the
 * protocol handshake through BridgeClient, tells "daemon not running" from "refused" (a browser hides the
 * HTTP status of a failed upgrade, so a plain HTTP probe checks whether anything listens), and retries
 * with backoff. Sockets, timers and the probe are injected: the Figma UI, the Photoshop panel and tests
 * each pass their own. No host APIs.
 */
import { BridgeClient, BridgeError, type ClientInfo, type SocketLike } from '../protocol/client.ts';
import { DEFAULT_PORT } from '../protocol/constants.ts';
import type { WelcomeMessage } from '../protocol/messages.ts';
import type { ConnectionSettings } from './settings.ts';
import { DEFAULT_BACKOFF, transition, type BackoffOptions, type ConnectionEvent, type ConnectionProblem, type ConnectionState } from './reconnect.ts';

/** The daemon closes with this code after a version-mismatch error (bridge/session.ts). */
export const CLOSE_VERSION_MISMATCH = 4001;

export interface ConnectionTarget {
  token: string;
  port?: number;
  /** Default `localhost`: what the plugin manifests allow. */
  host?: string;
  /** A studio server, wss://HOST:PORT (docs/team.md); replaces host and port. */
  url?: string;
  /**
   * The studio certificate's fingerprint pinned on first connect. A browser socket cannot read the
   * certificate, so the check is against the fingerprint the server reports in its handshake
   * (capabilities.team.fingerprint): a changed server certificate is refused.
   */
  fingerprint?: string;
}

export interface ConnectionDeps {
  openSocket(url: string): SocketLike;
  /** Resolves true when anything answers plain HTTP at `url` (the daemon answers 426), false otherwise. */
  probe(url: string): Promise<boolean>;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  random(): number;
  now(): number;
  client: ClientInfo;
  backoff?: BackoffOptions;
  /** A socket that neither opens nor fails within this is closed (and classified like a failure). */
  openTimeoutMs?: number;
  /** First connection to a studio server: store this fingerprint with its URL (trust on first use). */
  pin?(url: string, fingerprint: string): void;
}

export type ConnectionListener = (state: ConnectionState, conn: BridgeConnection) => void;

/** What to connect to for the stored settings: this computer's daemon, or the studio server; null without a token. */
export function targetFor(c: ConnectionSettings, localHost?: string): ConnectionTarget | null {
  if (!c.token) return null;
  if (c.server === 'studio' && c.studioUrl) return { token: c.token, url: c.studioUrl, ...(c.pinnedFingerprint ? { fingerprint: c.pinnedFingerprint } : {}) };
  return { token: c.token, port: c.port, ...(localHost ? { host: localHost } : {}) };
}

export function socketUrl(t: ConnectionTarget): string {
  if (t.url) return `${t.url.replace(/\/$/, '')}/?token=${encodeURIComponent(t.token)}`;
  return `ws://${t.host ?? 'localhost'}:${t.port ?? DEFAULT_PORT}/?token=${encodeURIComponent(t.token)}`;
}

export function probeUrl(t: ConnectionTarget): string {
  if (t.url) return `${t.url.replace(/^ws/, 'http').replace(/\/$/, '')}/`;
  return `http://${t.host ?? 'localhost'}:${t.port ?? DEFAULT_PORT}/`;
}

/** Null when the welcome fits the pin; the problem otherwise. A first fingerprint is pinned by the caller. */
export function checkPin(target: ConnectionTarget, welcome: WelcomeMessage | undefined): ConnectionProblem | null {
  if (!target.url || !target.fingerprint) return null;
  const reported = welcome?.capabilities.team?.fingerprint;
  if (reported === target.fingerprint) return null;
  return {
    code: 'fingerprint-mismatch',
    message: `The server at ${target.url} reports certificate fingerprint ${reported ?? '(none)'}, but this plugin pinned ${target.fingerprint} on its first connection.`,
  };
}

export class BridgeConnection {
  state: ConnectionState = { phase: 'idle' };
  /** The handshaken client while connected, else null. */
  client: BridgeClient | null = null;
  /** While waiting: when the next attempt starts (deps.now() clock), for a countdown. */
  retryAt: number | null = null;
  private target: ConnectionTarget | null = null;
  private seq = 0;
  private socket: SocketLike | null = null;
  private retryTimer: unknown = null;
  private openTimer: unknown = null;
  private readonly listeners = new Set<ConnectionListener>();

  constructor(private readonly deps: ConnectionDeps) {}

  get welcome(): WelcomeMessage | undefined {
    return this.client?.welcome;
  }

  get port(): number {
    return this.target?.port ?? DEFAULT_PORT;
  }

  /** New settings: reconnects with them, or goes idle without a token. */
  configure(target: ConnectionTarget | null): void {
    this.target = target && target.token.trim() ? { ...target, token: target.token.trim() } : null;
    this.dispatch(this.target ? { type: 'start' } : { type: 'stop' });
  }

  retryNow(): void {
    if (this.target) this.dispatch({ type: 'start' });
  }

  close(): void {
    this.target = null;
    this.dispatch({ type: 'stop' });
  }

  subscribe(fn: ConnectionListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The client of the next (or current) good connection. */
  whenConnected(): Promise<BridgeClient> {
    if (this.state.phase === 'connected' && this.client) return Promise.resolve(this.client);
    return new Promise((resolve) => {
      const off = this.subscribe((s, c) => {
        if (s.phase === 'connected' && c.client) {
          off();
          resolve(c.client);
        }
      });
    });
  }

  private dispatch(ev: ConnectionEvent): void {
    const prev = this.state;
    this.state = transition(prev, ev, this.deps.random(), this.deps.backoff ?? DEFAULT_BACKOFF);
    if (this.state === prev) return;
    this.clearTimers();
    this.retryAt = null;
    if (this.state.phase !== 'connected') this.client = null;
    if (this.state.phase === 'connecting') {
      this.dropSocket(); // a user retry replaces any attempt in flight
      this.open();
    } else if (this.state.phase === 'waiting') {
      this.retryAt = this.deps.now() + this.state.delayMs;
      this.retryTimer = this.deps.setTimer(() => this.dispatch({ type: 'retry-due' }), this.state.delayMs);
    } else if (this.state.phase !== 'connected') {
      this.dropSocket();
    }
    for (const fn of [...this.listeners]) fn(this.state, this);
  }

  private open(): void {
    const target = this.target!;
    const seq = ++this.seq;
    let opened = false;
    let raw: SocketLike;
    try {
      raw = this.deps.openSocket(socketUrl(target));
    } catch (e) {
      this.fail(seq, { code: 'unreachable', message: e instanceof Error ? e.message : String(e) });
      return;
    }
    this.socket = raw;
    const tap = new TappedSocket(raw, () => (opened = true), (code, reason) => void this.onClosed(seq, opened, code, reason));
    const client = new BridgeClient(tap, this.deps.client);
    this.openTimer = this.deps.setTimer(() => {
      if (seq === this.seq && this.state.phase === 'connecting') raw.close();
    }, this.deps.openTimeoutMs ?? 10_000);
    client.ready.then(
      (welcome) => {
        if (seq !== this.seq) return;
        const mismatch = checkPin(target, welcome);
        if (mismatch) return this.fail(seq, mismatch);
        const reported = welcome.capabilities.team?.fingerprint;
        if (target.url && !target.fingerprint && reported) {
          this.target = { ...target, fingerprint: reported };
          this.deps.pin?.(target.url, reported);
        }
        this.client = client; // set before listeners hear `connected`
        this.dispatch({ type: 'opened' });
      },
      (e: unknown) => {
        if (e instanceof BridgeError && e.code === 'version-mismatch') this.fail(seq, { code: 'version-mismatch', message: e.message });
        else if (e instanceof BridgeError && e.code !== 'closed') this.fail(seq, { code: 'handshake', message: e.message });
        // 'closed' is handled by onClosed, which knows whether the socket ever opened.
      },
    );
  }

  private async onClosed(seq: number, opened: boolean, code: number, reason: string): Promise<void> {
    // Let a pending handshake rejection (which carries the daemon's version-mismatch text) land first.
    await Promise.resolve();
    if (seq !== this.seq) return;
    if (this.state.phase === 'connected') return this.fail(seq, { code: 'dropped', message: `the connection closed (${code}${reason ? `: ${reason}` : ''})` });
    if (this.state.phase !== 'connecting') return;
    if (code === CLOSE_VERSION_MISMATCH) return this.fail(seq, { code: 'version-mismatch', message: reason || 'protocol version mismatch' });
    if (opened) return this.fail(seq, { code: 'handshake', message: `closed during the handshake (${code}${reason ? `: ${reason}` : ''})` });
    // Never opened: a browser does not say why. If plain HTTP gets an answer, the daemon is up and
    // refused the upgrade (401 wrong token, or 403/503); if not, nothing is listening.
    const target = this.target;
    const up = target ? await this.deps.probe(probeUrl(target)).catch(() => false) : false;
    if (seq !== this.seq) return;
    this.fail(seq, up
      ? { code: 'refused', message: 'the daemon refused the WebSocket (wrong token, or too many connections)' }
      : { code: 'unreachable', message: target?.url ? `nothing answers at ${target.url}` : `nothing answers on port ${target?.port ?? DEFAULT_PORT}` });
  }

  private fail(seq: number, problem: ConnectionProblem): void {
    if (seq !== this.seq) return;
    this.seq++; // later events of this socket are stale
    this.dropSocket();
    this.dispatch({ type: 'failed', problem });
  }

  private dropSocket(): void {
    const s = this.socket;
    this.socket = null;
    this.seq++;
    if (s && s.readyState < 2) {
      try {
        s.close(1000, 'plugin reconnecting');
      } catch {
        // already closing
      }
    }
  }

  private clearTimers(): void {
    if (this.retryTimer !== null) this.deps.clearTimer(this.retryTimer);
    if (this.openTimer !== null) this.deps.clearTimer(this.openTimer);
    this.retryTimer = this.openTimer = null;
  }
}

/** Passes a socket through to BridgeClient while letting the connection see open and close first. */
class TappedSocket implements SocketLike {
  onopen: unknown = null;
  onmessage: unknown = null;
  onclose: unknown = null;
  onerror: unknown = null;

  constructor(private readonly inner: SocketLike, opened: () => void, closed: (code: number, reason: string) => void) {
    inner.onopen = (ev: unknown) => {
      opened();
      call(this.onopen, ev);
    };
    inner.onmessage = (ev: unknown) => call(this.onmessage, ev);
    inner.onclose = (ev: { code: number; reason: string }) => {
      closed(ev.code, ev.reason);
      call(this.onclose, ev);
    };
    inner.onerror = (ev: unknown) => call(this.onerror, ev);
  }

  get binaryType(): string {
    return this.inner.binaryType;
  }

  set binaryType(v: string) {
    this.inner.binaryType = v;
  }

  get readyState(): number {
    return this.inner.readyState;
  }

  send(data: string | ArrayBuffer | ArrayBufferView): void {
    this.inner.send(data);
  }

  close(code?: number, reason?: string): void {
    this.inner.close(code, reason);
  }
}

function call(handler: unknown, ev: unknown): void {
  if (typeof handler === 'function') (handler as (e: unknown) => void)(ev);
}
