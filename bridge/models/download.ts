/**
 * Downloads one hub file: follows the hub's redirect to its CDN, resumes a `<dest>.part` file with a
 * Range request (206 appends; a server that ignores Range and answers 200 restarts it), checks free
 * disk space against the size before writing, verifies the sha256 (pinned, or the one the hub
 * reports), and renames into place only when it matches. A mismatch deletes the partial file.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, statSync } from 'node:fs';
import { open, rename, rm, statfs, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { sha256File, type HashCache } from './hash-cache.ts';
import { HubError, hubEndpoint, hubToken, offlineError, parseHubHeaders, resolveUrl, statusError, type HubFileMeta } from './hub.ts';
import { formatBytes } from './units.ts';

export interface DownloadRequest {
  readonly repo: string;
  readonly revision: string;
  readonly path: string;
  /** Absolute destination path. */
  readonly dest: string;
  /** Pinned sha256; null/undefined trusts the hub's reported hash. */
  readonly sha256?: string | null;
  /** Expected size if known (used for the disk-space check when the hub does not say). */
  readonly size?: number | null;
}

export interface DownloadProgress {
  readonly received: number;
  readonly total?: number;
  readonly resumedFrom: number;
}

export interface DownloadOptions {
  readonly endpoint?: string;
  readonly token?: string;
  /** Resume attempts within this call after a dropped connection (default 3). */
  readonly retries?: number;
  /** Abort a transfer that receives nothing for this long (default 60 s). */
  readonly idleTimeoutMs?: number;
  readonly onProgress?: (p: DownloadProgress) => void;
  /** Free bytes in a folder (tests inject a small number); default fs.statfs. */
  readonly freeSpace?: (dir: string) => Promise<number>;
  /** Records the verified hash so listing the file later does not re-hash it. */
  readonly hashCache?: HashCache;
  /** An existing dest with the expected hash is kept (default true). */
  readonly skipIfPresent?: boolean;
  readonly userAgent?: string;
}

export interface DownloadResult {
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
  /** Byte offset the transfer resumed from (0 = fresh). */
  readonly resumedFrom: number;
  /** Already present with the right hash; nothing downloaded. */
  readonly skipped: boolean;
  /** Which hash the file was checked against. */
  readonly verifiedBy: 'pinned' | 'hub-sha256' | 'hub-git-sha1';
}

export class HashMismatchError extends Error {
  constructor(readonly file: string, readonly expected: string, readonly actual: string, readonly source: string) {
    super(`${file}: sha256 mismatch (expected ${expected} from ${source}, got ${actual}); the partial download was removed, run the command again`);
    this.name = 'HashMismatchError';
  }
}

export class DiskSpaceError extends Error {
  constructor(readonly dir: string, readonly needed: number, readonly free: number) {
    super(`not enough disk space in ${dir}: need ${formatBytes(needed)}, ${formatBytes(free)} free`);
    this.name = 'DiskSpaceError';
  }
}

export class DownloadInterruptedError extends Error {
  constructor(readonly file: string, readonly received: number, cause: unknown) {
    super(`download of ${file} was interrupted after ${formatBytes(received)} (${(cause as Error)?.message ?? cause}); run the command again to resume`);
    this.name = 'DownloadInterruptedError';
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

interface Expected {
  readonly sha256?: string;
  readonly gitSha1?: string;
  readonly size?: number;
  readonly source: DownloadResult['verifiedBy'];
}

/** Pinned hash first; a hub hash that disagrees with the pin means the file changed upstream. */
function expectedHash(req: DownloadRequest, meta: HubFileMeta, url: string): Expected {
  const size = meta.size ?? req.size ?? undefined;
  if (req.sha256) {
    if (meta.sha256 && meta.sha256 !== req.sha256) {
      throw new HashMismatchError(req.dest, req.sha256, meta.sha256, `the preset (the hub now reports ${meta.sha256} for ${url}: the file changed upstream)`);
    }
    return { sha256: req.sha256, size, source: 'pinned' };
  }
  if (meta.sha256) return { sha256: meta.sha256, size, source: 'hub-sha256' };
  if (meta.gitSha1) return { gitSha1: meta.gitSha1, size, source: 'hub-git-sha1' };
  throw new HubError('http', `the hub gave no hash for ${req.path} in ${req.repo} (no X-Linked-Etag/ETag) and the preset pins none; refusing an unverifiable download`);
}

/** git's object id of a blob: sha1("blob <size>\0" + content). Small (non-LFS) files only. */
async function gitBlobSha1(path: string): Promise<string> {
  const h = createHash('sha1');
  h.update(`blob ${statSync(path).size}\0`);
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

interface HubResponse {
  readonly res: Response;
  readonly meta: HubFileMeta;
  readonly url: string;
}

/**
 * One request through the redirect chain. Headers from hub-origin hops carry the file's hash; the
 * token is only sent to the hub's origin (never to the CDN a redirect points at).
 */
async function hubRequest(
  url: string,
  method: 'GET' | 'HEAD',
  opts: DownloadOptions,
  range: number,
  signal: AbortSignal,
  /** Sees the hub's metadata before a redirect leaves the hub; may throw to stop there. */
  beforeLeavingHub?: (meta: HubFileMeta) => void,
  /** Metadata only: answer with the hub's redirect instead of following it to the CDN. */
  stayOnHub = false,
): Promise<HubResponse> {
  const hubOrigin = new URL(url).origin;
  let meta: HubFileMeta = {};
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers: Record<string, string> = { 'user-agent': opts.userAgent ?? 'ipa-bridge' };
    const sameOrigin = new URL(current).origin === hubOrigin;
    if (opts.token && sameOrigin) headers.authorization = `Bearer ${opts.token}`;
    if (range > 0) headers.range = `bytes=${range}-`;
    let res: Response;
    try {
      res = await fetch(current, { method, headers, redirect: 'manual', signal });
    } catch (e) {
      throw offlineError(e, current) ?? e;
    }
    if (sameOrigin) {
      const m = parseHubHeaders(res.headers);
      meta = { sha256: meta.sha256 ?? m.sha256, gitSha1: meta.gitSha1 ?? m.gitSha1, size: meta.size ?? m.size, commit: meta.commit ?? m.commit };
    }
    const location = res.headers.get('location');
    if (REDIRECTS.has(res.status) && location) {
      const next = new URL(location, current);
      if (next.origin !== hubOrigin && stayOnHub) return { res, meta, url: current };
      await res.body?.cancel();
      if (next.origin !== hubOrigin) beforeLeavingHub?.(meta);
      current = next.toString();
      continue;
    }
    return { res, meta, url: current };
  }
  throw new HubError('redirects', `too many redirects for ${url}`);
}

export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
}

function fileSize(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
}

/** Hash of the bytes already in the .part file, so a resumed transfer is verified end to end. */
async function hashExisting(part: string): Promise<Hash> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(part)) h.update(chunk as Buffer);
  return h;
}

/** `bytes start-end/total` → start, total. */
function parseContentRange(v: string | null): { start: number; total?: number } | undefined {
  const m = v ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(v.trim()) : null;
  if (!m) return undefined;
  return { start: Number(m[1]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

export async function downloadFile(req: DownloadRequest, opts: DownloadOptions = {}): Promise<DownloadResult> {
  const endpoint = opts.endpoint ?? hubEndpoint();
  const o: DownloadOptions = { ...opts, token: opts.token ?? hubToken() };
  const url = resolveUrl(endpoint, req.repo, req.revision, req.path);
  mkdirSync(dirname(req.dest), { recursive: true });
  if ((opts.skipIfPresent ?? true) && existsSync(req.dest)) {
    const kept = await checkExisting(req, url, o);
    if (kept) return kept;
  }
  const part = `${req.dest}.part`;
  const retries = opts.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    try {
      return await transfer(req, url, part, o);
    } catch (e) {
      if (!(e instanceof DownloadInterruptedError) || attempt >= retries) throw e;
    }
  }
}

/** An existing file with the expected hash is kept; checking it needs the network only when unpinned. */
async function checkExisting(req: DownloadRequest, url: string, opts: DownloadOptions): Promise<DownloadResult | undefined> {
  let expected: Expected;
  if (req.sha256) {
    expected = { sha256: req.sha256, source: 'pinned' };
  } else {
    const ctl = new AbortController();
    const { res, meta } = await hubRequest(url, 'HEAD', opts, 0, ctl.signal, undefined, true);
    await res.body?.cancel();
    if (!res.ok && !REDIRECTS.has(res.status)) throw statusError(res.status, res.headers, req);
    expected = expectedHash(req, meta, url);
  }
  const bytes = fileSize(req.dest);
  if (expected.gitSha1) {
    return (await gitBlobSha1(req.dest)) === expected.gitSha1
      ? { path: req.dest, sha256: await sha256File(req.dest), bytes, resumedFrom: 0, skipped: true, verifiedBy: expected.source }
      : undefined;
  }
  const actual = opts.hashCache ? await opts.hashCache.sha256(req.dest) : await sha256File(req.dest);
  return actual === expected.sha256 ? { path: req.dest, sha256: actual, bytes, resumedFrom: 0, skipped: true, verifiedBy: expected.source } : undefined;
}

async function transfer(req: DownloadRequest, url: string, part: string, opts: DownloadOptions): Promise<DownloadResult> {
  let offset = fileSize(part);
  const ctl = new AbortController();
  const idleMs = opts.idleTimeoutMs ?? 60_000;
  let idle: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(() => ctl.abort(new Error(`no data for ${idleMs / 1000} s`)), idleMs);
  };
  arm();
  let received = offset;
  let fh: FileHandle | undefined;
  try {
    // A pin that disagrees with the hub stops before a single byte comes from the CDN.
    const { res, meta } = await hubRequest(url, 'GET', opts, offset, ctl.signal, (m) => void expectedHash(req, m, url));
    if (res.status !== 200 && res.status !== 206 && !(res.status === 416 && offset > 0)) {
      await res.body?.cancel();
      throw statusError(res.status, res.headers, req);
    }
    let expected: Expected;
    try {
      expected = expectedHash(req, meta, url);
    } catch (e) {
      await res.body?.cancel();
      throw e;
    }
    if (res.status === 416) {
      // The .part may already hold the whole file (interrupted after the last byte); else restart.
      await res.body?.cancel();
      if (expected.size !== undefined && offset === expected.size) return await finish(req, part, expected, offset, offset, opts);
      await rm(part, { force: true });
      throw new DownloadInterruptedError(req.dest, 0, new Error('server refused to resume (416); restarting'));
    }
    let hash: Hash;
    if (res.status === 206 && offset > 0) {
      const cr = parseContentRange(res.headers.get('content-range'));
      if (!cr || cr.start !== offset) {
        await res.body?.cancel();
        await rm(part, { force: true });
        throw new DownloadInterruptedError(req.dest, 0, new Error(`server resumed at the wrong offset (${res.headers.get('content-range')}); restarting`));
      }
      hash = await hashExisting(part);
    } else {
      offset = 0; // 200: the server ignored Range (or there was nothing to resume)
      received = 0;
      hash = createHash('sha256');
    }
    const length = Number(res.headers.get('content-length') ?? NaN);
    const total = expected.size ?? (Number.isFinite(length) ? offset + length : undefined);
    if (total !== undefined) {
      const free = await (opts.freeSpace ?? freeBytes)(dirname(req.dest));
      if (free < total - offset) {
        await res.body?.cancel();
        throw new DiskSpaceError(dirname(req.dest), total - offset, free);
      }
    }
    if (!res.body) throw new HubError('http', `empty response body for ${url}`);
    fh = await open(part, offset > 0 ? 'a' : 'w');
    opts.onProgress?.({ received, total, resumedFrom: offset });
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        arm();
        hash.update(value);
        await fh.write(value);
        received += value.byteLength;
        opts.onProgress?.({ received, total, resumedFrom: offset });
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOSPC') throw new DiskSpaceError(dirname(req.dest), (total ?? received) - received, 0);
      throw new DownloadInterruptedError(req.dest, received, e);
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    if (total !== undefined && received !== total) {
      throw new DownloadInterruptedError(req.dest, received, new Error(`got ${received} of ${total} bytes`));
    }
    return await finish(req, part, expected, received, offset, opts, hash.digest('hex'));
  } catch (e) {
    if (ctl.signal.aborted && !(e instanceof DownloadInterruptedError) && !(e instanceof HubError)) {
      throw new DownloadInterruptedError(req.dest, received, ctl.signal.reason);
    }
    throw e;
  } finally {
    clearTimeout(idle);
    await fh?.close().catch(() => undefined);
  }
}

/** Verifies the complete .part and moves it into place; a mismatch deletes it. */
async function finish(req: DownloadRequest, part: string, expected: Expected, bytes: number, resumedFrom: number, opts: DownloadOptions, streamed?: string): Promise<DownloadResult> {
  const sha256 = streamed ?? (await sha256File(part));
  if (expected.gitSha1) {
    const sha1 = await gitBlobSha1(part);
    if (sha1 !== expected.gitSha1) {
      await rm(part, { force: true });
      throw new HashMismatchError(req.dest, expected.gitSha1, sha1, 'the hub ETag (git blob sha1)');
    }
  } else if (sha256 !== expected.sha256) {
    await rm(part, { force: true });
    throw new HashMismatchError(req.dest, expected.sha256 ?? '?', sha256, expected.source === 'pinned' ? 'the preset' : 'the hub (X-Linked-Etag)');
  }
  await rename(part, req.dest); // atomic on one filesystem: dest is never half-written
  opts.hashCache?.remember(req.dest, sha256);
  return { path: req.dest, sha256, bytes, resumedFrom, skipped: false, verifiedBy: expected.source };
}
