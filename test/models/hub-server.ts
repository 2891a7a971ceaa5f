/**
 * A local stand-in for the model hub on 127.0.0.1 (port 0). `POST /api/models/{repo}/paths-info/{rev}`
 * answers what @huggingface/hub's pathsInfo reads (size, oid, lfs.oid = sha256, lastCommit.id), and
 * `/{repo}/resolve/{rev}/{path}` answers
 * LFS files with a 302 to a second "CDN" server plus X-Linked-Etag (sha256) / X-Linked-Size /
 * X-Repo-Commit, and small files directly with a git-sha1 ETag, like the real hub. The CDN honours
 * Range (206 / 416) unless told to ignore it, and can cut the connection mid-body.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HubFile {
  readonly repo: string;
  readonly path: string;
  readonly content: Buffer;
  /** Served through the CDN redirect with a sha256 X-Linked-Etag (default true). */
  readonly lfs?: boolean;
  /** Advertise this sha256 instead of the real one (a corrupt upload / a lying mirror). */
  readonly advertisedSha256?: string;
}

export interface HubServerOptions {
  readonly files: readonly HubFile[];
  /** CDN answers 200 with the whole body even when asked for a Range. */
  readonly ignoreRange?: boolean;
  /** The first `cutTimes` CDN GETs send this many body bytes, then drop the connection. */
  readonly cutAfter?: number;
  readonly cutTimes?: number;
  /** Only requests with this bearer token may read from the hub. */
  readonly requireToken?: string;
}

/** The commit every file is at (the cache's snapshot folder name). */
export const COMMIT = '0123456789abcdef0123456789abcdef01234567';

export interface RecordedRequest {
  readonly server: 'hub' | 'cdn';
  readonly method: string;
  readonly url: string;
  readonly range?: string;
  readonly authorization?: string;
}

export interface HubServer {
  readonly endpoint: string;
  readonly cdn: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

export function gitSha1(b: Buffer): string {
  return createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

function record(list: RecordedRequest[], server: 'hub' | 'cdn', req: IncomingMessage): void {
  list.push({ server, method: req.method ?? 'GET', url: req.url ?? '', range: req.headers.range, authorization: req.headers.authorization });
}

/** Serves `body` honouring `Range: bytes=N-`; optionally cuts the connection after `cut` bytes. */
function serveBytes(req: IncomingMessage, res: ServerResponse, body: Buffer, headers: Record<string, string>, ignoreRange: boolean, cut: number | undefined): void {
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  let start = 0;
  let status = 200;
  if (m && !ignoreRange) {
    start = Number(m[1]);
    if (start >= body.length) {
      res.writeHead(416, { ...headers, 'content-range': `bytes */${body.length}` });
      res.end();
      return;
    }
    status = 206;
    headers = { ...headers, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` };
  }
  const slice = body.subarray(start);
  res.writeHead(status, { ...headers, 'content-length': String(slice.length), 'accept-ranges': 'bytes' });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  if (cut !== undefined && cut < slice.length) {
    // The pause lets the client drain what it got before the drop (a stream error discards unread chunks).
    res.write(slice.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 150));
    return;
  }
  res.end(slice);
}

export async function startHub(opts: HubServerOptions): Promise<HubServer> {
  const requests: RecordedRequest[] = [];
  let cutsLeft = opts.cutAfter === undefined ? 0 : (opts.cutTimes ?? 1);
  const byBlob = new Map<string, Buffer>();
  for (const f of opts.files) byBlob.set(sha256(f.content), f.content);

  const cdnServer = createServer((req, res) => {
    record(requests, 'cdn', req);
    const m = /^\/blobs\/([0-9a-f]{64})$/.exec(req.url ?? '');
    const body = m ? byBlob.get(m[1]) : undefined;
    if (!body) {
      res.writeHead(404).end('no such blob');
      return;
    }
    const cut = req.method === 'GET' && cutsLeft > 0 ? opts.cutAfter : undefined;
    if (cut !== undefined) cutsLeft--;
    serveBytes(req, res, body, { etag: '"cdn-etag-not-a-sha"', 'content-type': 'application/octet-stream' }, opts.ignoreRange ?? false, cut);
  });
  const cdn = await listen(cdnServer);

  const pathsInfo = (req: IncomingMessage, res: ServerResponse, repo: string): void => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => {
      const json = (status: number, v: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(v));
      if (opts.requireToken && req.headers.authorization !== `Bearer ${opts.requireToken}`) return json(401, { error: `Access to model ${repo} is restricted. You must have access to it and be authenticated to access it. Please log in. (gated)` });
      if (!opts.files.some((f) => f.repo === repo)) return json(404, { error: 'Repository not found' });
      const { paths } = JSON.parse(body) as { paths: string[] };
      json(200, opts.files.filter((f) => f.repo === repo && paths.includes(f.path)).map((f) => ({
        type: 'file',
        path: f.path,
        size: f.content.length,
        oid: gitSha1(f.content),
        ...((f.lfs ?? true) ? { lfs: { oid: f.advertisedSha256 ?? sha256(f.content), size: f.content.length, pointerSize: 134 } } : {}),
        lastCommit: { id: COMMIT, title: 'upload', date: '2024-01-01T00:00:00.000Z' },
      })));
    });
  };

  const hubServer = createServer((req, res) => {
    record(requests, 'hub', req);
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/paths-info\/([^/]+)$/.exec((req.url ?? '').split('?')[0]);
    if (api && req.method === 'POST') {
      pathsInfo(req, res, decodeURIComponent(api[1]));
      return;
    }
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec((req.url ?? '').split('?')[0]);
    if (!m) {
      res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end();
      return;
    }
    const repo = decodeURIComponent(m[1]);
    const path = m[3].split('/').map(decodeURIComponent).join('/');
    if (opts.requireToken && req.headers.authorization !== `Bearer ${opts.requireToken}`) {
      res.writeHead(401, { 'x-error-code': 'GatedRepo' }).end();
      return;
    }
    if (!opts.files.some((f) => f.repo === repo)) {
      res.writeHead(401, { 'x-error-code': 'RepoNotFound' }).end('Repository not found');
      return;
    }
    const file = opts.files.find((f) => f.repo === repo && f.path === path);
    if (!file) {
      res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end('Entry not found');
      return;
    }
    const real = sha256(file.content);
    if (file.lfs ?? true) {
      const advertised = file.advertisedSha256 ?? real;
      res.writeHead(302, {
        location: `${cdn}/blobs/${real}`,
        'x-linked-etag': `"${advertised}"`,
        etag: `"${advertised}"`,
        'x-linked-size': String(file.content.length),
        'x-repo-commit': COMMIT,
      });
      res.end();
      return;
    }
    serveBytes(req, res, file.content, { etag: `"${gitSha1(file.content)}"`, 'x-repo-commit': COMMIT }, false, undefined);
  });
  const endpoint = await listen(hubServer);

  return {
    endpoint,
    cdn,
    requests,
    close: async () => {
      for (const s of [hubServer, cdnServer]) {
        s.closeAllConnections();
        await new Promise<void>((r) => s.close(() => r()));
      }
    },
  };
}
