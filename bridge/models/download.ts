/**
 * Downloads one hub file into the Hugging Face cache layout, so that diffusers, the hub CLI and
 * ComfyUI-Manager find what we fetched, and we find what they fetched:
 *
 *   <cache>/models--<org>--<name>/blobs/<sha256 or git sha1>          the bytes
 *   <cache>/models--<org>--<name>/snapshots/<commit>/<path>           a relative symlink to the blob
 *   <cache>/models--<org>--<name>/refs/<revision>                     the commit the revision was at
 *
 * The file's size, hash and commit come from the hub's paths-info API (@huggingface/hub), before any
 * byte is fetched: a pinned sha256 the hub contradicts stops right there. The transfer itself is ours
 * because the library's has no resume, no verification and no disk check: it follows the hub's
 * redirect to its CDN (the token stays on the hub), writes `<blob>.incomplete` (huggingface_hub's name,
 * so either tool resumes the other's partial file) and resumes it with `Range: bytes=N-` (206 appends;
 * 200 restarts; 416 on a complete file verifies it), checks free disk space first, verifies the hash
 * and renames into place only when it matches. A mismatch deletes the partial file.
 */
import { createHash, type Hash } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { open, rename, rm, statfs, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { sha256File, type HashCache } from './hash-cache.ts';
import { fileInfo, HubError, hubCacheDir, hubEndpoint, hubToken, networkError, repoFolder, resolveUrl, statusError, type HubFileInfo } from './hub.ts';
import { formatBytes } from './units.ts';

export interface DownloadRequest {
  readonly repo: string;
  readonly revision: string;
  readonly path: string;
  /** The hub cache folder to download into (default: HF_HUB_CACHE / HF_HOME/hub / ~/.cache/huggingface/hub). */
  readonly cacheDir?: string;
  /** Pinned sha256; null/undefined trusts the hub's reported hash. */
  readonly sha256?: string | null;
  /** Expected size if known (the disk-space check when the hub does not say). */
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
  /** An existing file with the expected hash is kept (default true). */
  readonly skipIfPresent?: boolean;
  readonly userAgent?: string;
}

export interface DownloadResult {
  /** The snapshot path (`…/snapshots/<commit>/<path>`), what the registry lists. */
  readonly path: string;
  /** The blob the snapshot path points at. */
  readonly blob: string;
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
    super(`not enough disk space in ${dir}: need ${formatBytes(needed)}, ${formatBytes(free)} free (free some space, or download elsewhere with --models DIR)`);
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
const COMMIT = /^[0-9a-f]{40}$/;

interface Expected {
  readonly sha256?: string;
  readonly gitSha1?: string;
  readonly size?: number;
  readonly source: DownloadResult['verifiedBy'];
}

/** Where a file lives in the cache. */
interface CachePaths {
  readonly repoDir: string;
  readonly blob: string;
  readonly pointer: string;
}

function cachePaths(cacheDir: string, repo: string, commit: string, path: string, etag: string): CachePaths {
  const repoDir = join(cacheDir, repoFolder(repo));
  return { repoDir, blob: join(repoDir, 'blobs', etag), pointer: join(repoDir, 'snapshots', commit, ...path.split('/')) };
}

/** Pinned hash first; a hub hash that disagrees with the pin means the file changed upstream. */
function expectedHash(req: DownloadRequest, info: HubFileInfo): Expected {
  const size = info.size ?? req.size ?? undefined;
  if (req.sha256) {
    if (info.sha256 && info.sha256 !== req.sha256) {
      throw new HashMismatchError(`${req.repo}/${req.path}`, req.sha256, info.sha256, `the preset (the hub now reports ${info.sha256}: the file changed upstream)`);
    }
    return { sha256: req.sha256, size, source: 'pinned' };
  }
  if (info.sha256) return { sha256: info.sha256, size, source: 'hub-sha256' };
  if (info.gitSha1) return { gitSha1: info.gitSha1, size, source: 'hub-git-sha1' };
  throw new HubError('http', `the hub gave no hash for ${req.path} in ${req.repo} and the preset pins none; refusing an unverifiable download`);
}

/** git's object id of a blob: sha1("blob <size>\0" + content). Small (non-LFS) files only. */
async function gitBlobSha1(path: string): Promise<string> {
  const h = createHash('sha1');
  h.update(`blob ${statSync(path).size}\0`);
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
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

/** The snapshot entry points at the blob with a relative symlink (a copy where symlinks are not allowed, as on Windows without developer mode). */
function linkPointer(p: CachePaths): void {
  mkdirSync(dirname(p.pointer), { recursive: true });
  try {
    if (lstatSync(p.pointer)) unlinkSync(p.pointer);
  } catch {
    // not there yet
  }
  try {
    symlinkSync(relative(dirname(p.pointer), p.blob), p.pointer);
  } catch {
    copyFileSync(p.blob, p.pointer);
  }
}

function writeRef(repoDir: string, revision: string, commit: string): void {
  if (COMMIT.test(revision) || revision === commit) return;
  const ref = join(repoDir, 'refs', ...revision.split('/'));
  mkdirSync(dirname(ref), { recursive: true });
  writeFileSync(ref, commit);
}

/** The commit a revision was at when it was last downloaded (offline use of a pinned file). */
function cachedCommit(repoDir: string, revision: string): string | undefined {
  if (COMMIT.test(revision)) return revision;
  try {
    const c = readFileSync(join(repoDir, 'refs', ...revision.split('/')), 'utf8').trim();
    return COMMIT.test(c) ? c : undefined;
  } catch {
    return undefined;
  }
}

export async function downloadFile(req: DownloadRequest, opts: DownloadOptions = {}): Promise<DownloadResult> {
  const endpoint = opts.endpoint ?? hubEndpoint();
  const o: DownloadOptions = { ...opts, token: opts.token ?? hubToken() };
  const cacheDir = req.cacheDir ?? hubCacheDir();
  // A pinned file already in the cache needs no network at all.
  if ((opts.skipIfPresent ?? true) && req.sha256) {
    const repoDir = join(cacheDir, repoFolder(req.repo));
    const commit = cachedCommit(repoDir, req.revision);
    const p = commit ? cachePaths(cacheDir, req.repo, commit, req.path, req.sha256) : undefined;
    if (p && existsSync(p.blob) && existsSync(p.pointer)) {
      const kept = await checkExisting(p, { sha256: req.sha256, source: 'pinned' }, o);
      if (kept) return kept;
    }
  }
  const info = await fileInfo(req.repo, req.revision, req.path, { endpoint, token: o.token });
  const expected = expectedHash(req, info);
  const commit = info.commit ?? (COMMIT.test(req.revision) ? req.revision : undefined);
  if (!commit) throw new HubError('http', `the hub did not say which commit ${req.revision} of ${req.repo} is; cannot place ${req.path} in the cache`);
  const p = cachePaths(cacheDir, req.repo, commit, req.path, info.sha256 ?? info.gitSha1 ?? expected.sha256 ?? 'unknown');
  mkdirSync(dirname(p.blob), { recursive: true });
  if ((opts.skipIfPresent ?? true) && existsSync(p.blob)) {
    const kept = await checkExisting(p, expected, o);
    if (kept) {
      linkPointer(p);
      writeRef(p.repoDir, req.revision, commit);
      return kept;
    }
  }
  const url = resolveUrl(endpoint, req.repo, commit, req.path);
  const retries = opts.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await transfer(req, url, p, expected, o, endpoint);
      writeRef(p.repoDir, req.revision, commit);
      return r;
    } catch (e) {
      if (!(e instanceof DownloadInterruptedError) || attempt >= retries) throw e;
    }
  }
}

/** A blob already in the cache is kept when its hash is the expected one (hash cache first). */
async function checkExisting(p: CachePaths, expected: Expected, opts: DownloadOptions): Promise<DownloadResult | undefined> {
  const bytes = fileSize(p.blob);
  const result = (sha256: string): DownloadResult => ({ path: p.pointer, blob: p.blob, sha256, bytes, resumedFrom: 0, skipped: true, verifiedBy: expected.source });
  if (expected.gitSha1) return (await gitBlobSha1(p.blob)) === expected.gitSha1 ? result(await sha256File(p.blob)) : undefined;
  const actual = opts.hashCache ? await opts.hashCache.sha256(p.blob) : await sha256File(p.blob);
  return actual === expected.sha256 ? result(actual) : undefined;
}

/**
 * One GET through the redirect chain. The token goes to the hub's origin only (never to the CDN a
 * redirect points at).
 */
async function hubGet(url: string, opts: DownloadOptions, range: number, signal: AbortSignal, endpoint: string): Promise<Response> {
  const hubOrigin = new URL(url).origin;
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers: Record<string, string> = { 'user-agent': opts.userAgent ?? 'ipa-bridge' };
    if (opts.token && new URL(current).origin === hubOrigin) headers.authorization = `Bearer ${opts.token}`;
    if (range > 0) headers.range = `bytes=${range}-`;
    let res: Response;
    try {
      res = await fetch(current, { method: 'GET', headers, redirect: 'manual', signal });
    } catch (e) {
      throw networkError(e, current, endpoint) ?? e;
    }
    const location = res.headers.get('location');
    if (REDIRECTS.has(res.status) && location) {
      await res.body?.cancel();
      current = new URL(location, current).toString();
      continue;
    }
    return res;
  }
  throw new HubError('redirects', `too many redirects for ${url}`);
}

/** Hash of the bytes already in the partial file, so a resumed transfer is verified end to end. */
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

async function transfer(req: DownloadRequest, url: string, p: CachePaths, expected: Expected, opts: DownloadOptions, endpoint: string): Promise<DownloadResult> {
  const part = `${p.blob}.incomplete`;
  const what = `${req.repo}/${req.path}`;
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
    const res = await hubGet(url, opts, offset, ctl.signal, endpoint);
    if (res.status !== 200 && res.status !== 206 && !(res.status === 416 && offset > 0)) {
      await res.body?.cancel();
      throw statusError(res.status, res.headers, req);
    }
    if (res.status === 416) {
      // The partial file may already hold the whole file (interrupted after the last byte); else restart.
      await res.body?.cancel();
      if (expected.size !== undefined && offset === expected.size) return await finish(p, part, expected, offset, offset, opts, what);
      await rm(part, { force: true });
      throw new DownloadInterruptedError(what, 0, new Error('server refused to resume (416); restarting'));
    }
    let hash: Hash;
    if (res.status === 206 && offset > 0) {
      const cr = parseContentRange(res.headers.get('content-range'));
      if (!cr || cr.start !== offset) {
        await res.body?.cancel();
        await rm(part, { force: true });
        throw new DownloadInterruptedError(what, 0, new Error(`server resumed at the wrong offset (${res.headers.get('content-range')}); restarting`));
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
      const free = await (opts.freeSpace ?? freeBytes)(dirname(p.blob));
      if (free < total - offset) {
        await res.body?.cancel();
        throw new DiskSpaceError(dirname(p.blob), total - offset, free);
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
      if ((e as NodeJS.ErrnoException).code === 'ENOSPC') throw new DiskSpaceError(dirname(p.blob), (total ?? received) - received, 0);
      throw new DownloadInterruptedError(what, received, e);
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    if (total !== undefined && received !== total) {
      throw new DownloadInterruptedError(what, received, new Error(`got ${received} of ${total} bytes`));
    }
    return await finish(p, part, expected, received, offset, opts, what, hash.digest('hex'));
  } catch (e) {
    if (ctl.signal.aborted && !(e instanceof DownloadInterruptedError) && !(e instanceof HubError)) {
      throw new DownloadInterruptedError(what, received, ctl.signal.reason);
    }
    throw e;
  } finally {
    clearTimeout(idle);
    await fh?.close().catch(() => undefined);
  }
}

/** Verifies the complete partial file, moves it into place as the blob and links the snapshot to it; a mismatch deletes it. */
async function finish(p: CachePaths, part: string, expected: Expected, bytes: number, resumedFrom: number, opts: DownloadOptions, what: string, streamed?: string): Promise<DownloadResult> {
  const sha256 = streamed ?? (await sha256File(part));
  if (expected.gitSha1) {
    const sha1 = await gitBlobSha1(part);
    if (sha1 !== expected.gitSha1) {
      await rm(part, { force: true });
      throw new HashMismatchError(what, expected.gitSha1, sha1, 'the hub (git blob sha1)');
    }
  } else if (sha256 !== expected.sha256) {
    await rm(part, { force: true });
    throw new HashMismatchError(what, expected.sha256 ?? '?', sha256, expected.source === 'pinned' ? 'the preset' : 'the hub (LFS sha256)');
  }
  await rename(part, p.blob); // atomic on one filesystem: the blob is never half-written
  linkPointer(p);
  opts.hashCache?.remember(p.blob, sha256);
  opts.hashCache?.remember(p.pointer, sha256);
  return { path: p.pointer, blob: p.blob, sha256, bytes, resumedFrom, skipped: false, verifiedBy: expected.source };
}
