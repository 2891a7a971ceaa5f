/**
 * A low-level `ws` test client: sends anything (including garbage), buffers every message, and lets a
 * test wait for the next message matching a predicate. Binary messages are decoded as frames when they
 * parse. Also a raw HTTP upgrade probe for status codes (401/403/503) before any WebSocket exists.
 */
import { request } from 'node:http';
import WebSocket from 'ws';
import { PROTOCOL_VERSION } from '../../shared/protocol/constants.ts';
import { decodeFrame, encodeFrame, type Frame, type FrameHeader } from '../../shared/protocol/frame.ts';
import type { ServerMessage, WelcomeMessage } from '../../shared/protocol/messages.ts';

export type Received = { kind: 'json'; msg: ServerMessage; at: number } | { kind: 'frame'; frame: Frame; at: number } | { kind: 'binary'; bytes: Buffer; at: number };

export class TestClient {
  readonly inbox: Received[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary) => {
      const at = Date.now();
      if (!isBinary) this.inbox.push({ kind: 'json', msg: JSON.parse(data.toString('utf8')) as ServerMessage, at });
      else {
        try {
          this.inbox.push({ kind: 'frame', frame: decodeFrame(data), at });
        } catch {
          this.inbox.push({ kind: 'binary', bytes: data, at });
        }
      }
      this.wake();
    });
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => {
      resolve({ code, reason: reason.toString() });
      this.wake();
    }));
    ws.on('error', () => undefined);
  }

  static open(url: string, opts: { origin?: string; maxPayload?: number } = {}): Promise<TestClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: opts.maxPayload ?? 512 * 1024 * 1024, ...(opts.origin ? { origin: opts.origin } : {}) });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new TestClient(ws)));
      ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  /** Opens and completes the hello handshake. */
  static async connect(url: string, clientId?: string): Promise<{ c: TestClient; welcome: WelcomeMessage }> {
    const c = await TestClient.open(url);
    c.send({ type: 'hello', protocol: PROTOCOL_VERSION, client: { name: 'test', version: '0', ...(clientId ? { id: clientId } : {}) } });
    const welcome = (await c.json((m) => m.type === 'welcome')) as WelcomeMessage;
    return { c, welcome };
  }

  send(m: unknown): void {
    this.ws.send(typeof m === 'string' ? m : JSON.stringify(m));
  }

  sendBinary(b: Uint8Array): void {
    this.ws.send(b, { binary: true });
  }

  sendFrame(h: FrameHeader, payload: Uint8Array): void {
    this.sendBinary(encodeFrame(h, payload));
  }

  /** Removes and returns the first buffered (or next arriving) message that matches. */
  async next(pred: (r: Received) => boolean, timeoutMs = 10_000, what = 'message'): Promise<Received> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex(pred);
      if (i >= 0) return this.inbox.splice(i, 1)[0];
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`connection closed while waiting for ${what}; inbox: ${this.describe()}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; inbox: ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async json(pred: (m: ServerMessage) => boolean, timeoutMs = 10_000): Promise<ServerMessage> {
    const r = await this.next((x) => x.kind === 'json' && pred(x.msg), timeoutMs, 'a JSON message');
    return (r as { msg: ServerMessage }).msg;
  }

  /** The next message of `type` for `jobId` (any job when omitted). */
  async expect<T extends ServerMessage['type']>(type: T, jobId?: string, timeoutMs = 10_000): Promise<Extract<ServerMessage, { type: T }>> {
    return (await this.json((m) => m.type === type && (jobId === undefined || (m as { jobId?: string }).jobId === jobId), timeoutMs)) as Extract<ServerMessage, { type: T }>;
  }

  async frame(pred: (h: FrameHeader) => boolean, timeoutMs = 10_000): Promise<Frame> {
    const r = await this.next((x) => x.kind === 'frame' && pred(x.frame.header), timeoutMs, 'a binary frame');
    return (r as { frame: Frame }).frame;
  }

  close(): void {
    this.ws.close();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private describe(): string {
    return JSON.stringify(this.inbox.slice(-5).map((r) => (r.kind === 'json' ? r.msg : r.kind === 'frame' ? { frame: r.frame.header } : { binary: r.bytes.length })));
  }
}

/** Sends a WebSocket upgrade request by hand; resolves with the HTTP status (101 = accepted). */
export function upgradeStatus(port: number, path: string, headers: Record<string, string> = {}, host = '127.0.0.1'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host, port, path, method: 'GET',
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: '' });
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
