/**
 * The front's authenticated endpoint for workers, beside the WebSocket on the same port (and TLS):
 *   GET  /team/v1/inputs/<sha256>                 decoded input pixels of a job
 *   PUT  /team/v1/results/<sha256>                a result payload; refused unless its sha256 matches
 *   POST /team/v1/preview/<job>?step=&width=&height=   a raw RGBA preview, passed straight to the watchers
 * Workers present `Authorization: Bearer <worker secret>` (a random secret the front keeps in Redis:
 * whoever can reach Redis can run workers anyway). Plugins never use this endpoint.
 * The client half (FrontClient) is what workers use: it finds the front through Redis, pins its
 * certificate, and retries while the front restarts, so a job in flight survives that.
 */
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { tokenMatches } from '../auth.ts';
import { HASH, sha256, type DiskBlobStore } from './blob-store.ts';
import type { FrontInfo, TeamKeys } from './contract.ts';
import { FingerprintMismatchError, pinnedTls } from './pin.ts';

export const TEAM_HTTP_PREFIX = '/team/v1/';

export interface BlobEndpointDeps {
  store: DiskBlobStore;
  /** The current worker secret. */
  secret: () => string | undefined;
  onPreview: (bullId: string, step: number, width: number, height: number, rgba: Uint8Array) => void;
  maxBytes: number;
  log: Logger;
}

/** Serves a /team/v1/ request; false when the path is not ours. */
export function handleTeamHttp(req: IncomingMessage, res: ServerResponse, deps: BlobEndpointDeps): boolean {
  const url = new URL(req.url ?? '/', 'http://front');
  if (!url.pathname.startsWith(TEAM_HTTP_PREFIX)) return false;
  const reply = (status: number, text: string): void => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
    res.end(`${text}\n`);
  };
  const secret = deps.secret();
  const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? null;
  if (!secret || !tokenMatches(given, secret)) {
    deps.log.info(`refused a worker request from ${req.socket.remoteAddress}: missing or wrong worker secret`);
    reply(401, 'missing or wrong worker secret');
    req.resume();
    return true;
  }
  const [kind, name] = url.pathname.slice(TEAM_HTTP_PREFIX.length).split('/');
  void (async () => {
    if (req.method === 'GET' && kind === 'inputs' && HASH.test(name ?? '')) {
      const bytes = await deps.store.get('inputs', name!);
      if (!bytes) return reply(404, `no input ${name}`);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
      res.end(bytes);
      return;
    }
    if (req.method === 'PUT' && kind === 'results' && HASH.test(name ?? '')) {
      const body = await readBody(req, deps.maxBytes);
      if (!body) return reply(413, `larger than ${deps.maxBytes} bytes`);
      if (sha256(body) !== name) return reply(422, 'the body does not hash to the name');
      await deps.store.put('results', name!, body);
      return reply(201, 'stored');
    }
    if (req.method === 'POST' && kind === 'preview' && /^[A-Za-z0-9]{1,64}$/.test(name ?? '')) {
      const step = Number(url.searchParams.get('step'));
      const width = Number(url.searchParams.get('width'));
      const height = Number(url.searchParams.get('height'));
      const body = await readBody(req, 4096 * 4096 * 4);
      if (!body || !Number.isInteger(step) || !(width > 0) || !(height > 0) || body.length !== width * height * 4) return reply(400, 'bad preview');
      deps.onPreview(name!, step, width, height, body);
      return reply(204, '');
    }
    reply(404, `no ${req.method} ${url.pathname}`);
  })().catch((e: unknown) => {
    deps.log.error(`worker request ${req.method} ${url.pathname} failed`, e);
    if (!res.headersSent) reply(500, (e as Error).message);
  });
  return true;
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    req.on('data', (d: Buffer) => {
      n += d.length;
      if (n > max) {
        req.destroy();
        resolve(undefined);
        return;
      }
      parts.push(d);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

export class FrontUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrontUnreachableError';
  }
}

/** The worker side: where the front is comes from Redis (it moves when the front restarts elsewhere). */
export class FrontClient {
  constructor(private readonly redis: Redis, private readonly keys: TeamKeys, private readonly log: Logger, private readonly patienceMs = 5 * 60_000) {}

  async getInput(hash: string, signal?: AbortSignal): Promise<Buffer> {
    const r = await this.call('GET', `inputs/${hash}`, undefined, signal);
    if (r.status === 404) throw new Error(`the front has no input ${hash.slice(0, 12)}… (expired?)`);
    return r.body;
  }

  /** `patienceMs` overrides how long an unreachable front is retried (0: one try). */
  async putResult(hash: string, bytes: Uint8Array, signal?: AbortSignal, patienceMs?: number): Promise<void> {
    await this.call('PUT', `results/${hash}`, bytes, signal, patienceMs);
  }

  /** Best effort, once: a lost preview is replaced by the next one. */
  async postPreview(bullId: string, step: number, width: number, height: number, rgba: Uint8Array): Promise<void> {
    try {
      await this.once('POST', `preview/${bullId}?step=${step}&width=${width}&height=${height}`, rgba);
    } catch {
      // the front is restarting or slow: previews are droppable
    }
  }

  /** One request, retried (the front restarting, Redis briefly away) until `patienceMs` has passed. */
  private async call(method: string, path: string, body: Uint8Array | undefined, signal?: AbortSignal, patienceMs = this.patienceMs): Promise<{ status: number; body: Buffer }> {
    const deadline = Date.now() + patienceMs;
    let delay = 200;
    let lastLogged = 0;
    for (;;) {
      try {
        const r = await this.once(method, path, body);
        if (r.status < 500 && r.status !== 401 && r.status !== 404) {
          if (r.status >= 400) throw new Error(`front answered ${r.status} to ${method} ${path}: ${r.body.toString('utf8').trim()}`);
          return r;
        }
        if (r.status === 404) return r;
        throw new FrontUnreachableError(`front answered ${r.status}: ${r.body.toString('utf8').trim()}`);
      } catch (e) {
        if (e instanceof FingerprintMismatchError) throw e;
        if (!(e instanceof FrontUnreachableError) && !isNetworkError(e)) throw e;
        if (signal?.aborted) throw e;
        if (Date.now() > deadline) throw new FrontUnreachableError(`the front could not be reached for ${Math.round(patienceMs / 1000)} s: ${(e as Error).message}`);
        if (Date.now() - lastLogged > 10_000) {
          lastLogged = Date.now();
          this.log.warn(`front unreachable for ${method} ${path.split('?')[0]} (${(e as Error).message}); retrying`);
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(2000, delay * 2);
      }
    }
  }

  private async once(method: string, path: string, body?: Uint8Array): Promise<{ status: number; body: Buffer }> {
    const [infoText, secret] = await this.redis.mget(this.keys.front, this.keys.workerSecret).catch((e: Error) => {
      throw new FrontUnreachableError(`Redis: ${e.message}`);
    });
    if (!infoText || !secret) throw new FrontUnreachableError('no front has registered in Redis yet');
    const info = JSON.parse(infoText) as FrontInfo;
    const url = new URL(`${info.url.replace(/\/$/, '')}${TEAM_HTTP_PREFIX}${path}`);
    const secure = url.protocol === 'https:';
    const port = Number(url.port || (secure ? 443 : 80));
    const socket = secure && info.fingerprint ? await pinnedTls(url.hostname, port, info.fingerprint) : undefined;
    const headers: Record<string, string | number> = { authorization: `Bearer ${secret}` };
    if (body) headers['content-length'] = body.byteLength;
    return new Promise((resolve, reject) => {
      const req = (secure ? httpsRequest : httpRequest)(url, {
        method,
        headers,
        timeout: 30_000,
        // With createConnection and no agent, Node uses the pinned socket as is (an agent would open its own).
        ...(socket ? { createConnection: () => socket } : { agent: false }),
      }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end(body);
    });
  }
}

function isNetworkError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException)?.code ?? '';
  return ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET'].includes(code) ||
    /socket hang up|timed out|TLS handshake/.test((e as Error)?.message ?? '');
}
