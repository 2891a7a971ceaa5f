/**
 * A raw protocol client for the team tests: `ws` on a socket whose certificate was pinned first (or plain
 * ws:// for a --no-tls front), every message kept, so a test can count deliveries (a result must arrive
 * once) as well as wait for the next message of a kind.
 */
import WebSocket from 'ws';
import { PROTOCOL_VERSION } from '../../shared/protocol/constants.ts';
import { decodeFrame, type Frame } from '../../shared/protocol/frame.ts';
import type { ServerMessage, WelcomeMessage } from '../../shared/protocol/messages.ts';
import { pinnedTls } from '../../bridge/team/pin.ts';

export type Got = { kind: 'json'; msg: ServerMessage; at: number } | { kind: 'frame'; frame: Frame; at: number };

export class TeamClient {
  /** Every message ever received (never consumed: counting needs them all). */
  readonly all: Got[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];
  welcome?: WelcomeMessage;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary) => {
      const at = Date.now();
      this.all.push(isBinary ? { kind: 'frame', frame: decodeFrame(data), at } : { kind: 'json', msg: JSON.parse(data.toString('utf8')) as ServerMessage, at });
      this.wake();
    });
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => {
      resolve({ code, reason: reason.toString() });
      this.wake();
    }));
    ws.on('error', () => undefined);
  }

  /** Opens (pinning `fingerprint` on wss://) and says hello. */
  static async connect(url: string, token: string, fingerprint?: string): Promise<TeamClient> {
    const u = new URL(url);
    u.searchParams.set('token', token);
    const socket = u.protocol === 'wss:' && fingerprint ? await pinnedTls(u.hostname, Number(u.port), fingerprint) : undefined;
    const ws = new WebSocket(u.toString(), { perMessageDeflate: false, ...(socket ? { createConnection: () => socket } : {}) });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
    const c = new TeamClient(ws);
    c.send({ type: 'hello', protocol: PROTOCOL_VERSION, client: { name: 'team-test', version: '0' } });
    c.welcome = (await c.expect('welcome')) as WelcomeMessage;
    return c;
  }

  send(m: unknown): void {
    this.ws.send(JSON.stringify(m));
  }

  /** The `n`-th (0-based) message of `type` for `jobId`, waiting for it. */
  async expect<T extends ServerMessage['type']>(type: T, jobId?: string, timeoutMs = 20_000, n = 0): Promise<Extract<ServerMessage, { type: T }>> {
    const match = (g: Got): boolean => g.kind === 'json' && g.msg.type === type && (jobId === undefined || (g.msg as { jobId?: string }).jobId === jobId);
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = this.all.filter(match);
      if (found.length > n) return (found[n] as { msg: ServerMessage }).msg as Extract<ServerMessage, { type: T }>;
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`closed while waiting for ${type} ${jobId ?? ''}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${type} ${jobId ?? ''}; last: ${JSON.stringify(this.all.slice(-4).map((g) => (g.kind === 'json' ? g.msg : g.frame.header)))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 500));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** The first of `types` to arrive for `jobId`. */
  async outcome(jobId: string, timeoutMs = 30_000): Promise<ServerMessage> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const g = this.all.find((x) => x.kind === 'json' && ['result', 'error', 'cancelled'].includes(x.msg.type) && (x.msg as { jobId?: string }).jobId === jobId);
      if (g && g.kind === 'json') return g.msg;
      if (Date.now() > end) throw new Error(`no outcome for ${jobId}; last: ${JSON.stringify(this.all.slice(-4).map((x) => (x.kind === 'json' ? x.msg : x.frame.header)))}`);
      await this.expectAny(Math.min(500, end - Date.now()));
    }
  }

  count(type: ServerMessage['type'], jobId?: string): number {
    return this.all.filter((g) => g.kind === 'json' && g.msg.type === type && (jobId === undefined || (g.msg as { jobId?: string }).jobId === jobId)).length;
  }

  frames(role: string, jobId: string): Frame[] {
    return this.all.flatMap((g) => (g.kind === 'frame' && g.frame.header.role === role && g.frame.header.jobId === jobId ? [g.frame] : []));
  }

  close(): void {
    this.ws.close();
  }

  private expectAny(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(r, Math.max(1, ms));
      this.waiters.push(() => {
        clearTimeout(t);
        r();
      });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
