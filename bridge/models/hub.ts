/**
 * The model hub: where it is (`HF_ENDPOINT`), who we are (`HF_TOKEN`), where its cache lives
 * (`HF_HUB_CACHE` / `HF_HOME`), what it says about a file (`pathsInfo` from @huggingface/hub: size,
 * sha256 of LFS files, git blob sha1 of small ones, the commit), and its errors as a user should read
 * them. The token is only ever sent to the hub's own origin, never to the CDN it redirects to.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { getRepoFolderName, HubApiError, pathsInfo } from '@huggingface/hub';
import type { Env } from './paths.ts';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export function hubEndpoint(env: Env = process.env): string {
  const raw = (env.HF_ENDPOINT || DEFAULT_ENDPOINT).replace(/\/+$/, '');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new HubError('http', `HF_ENDPOINT="${env.HF_ENDPOINT}" is not a URL (expected e.g. https://huggingface.co or http://mirror:8080)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new HubError('http', `HF_ENDPOINT="${env.HF_ENDPOINT}" must start with http:// or https://`);
  return raw;
}

export function hubToken(env: Env = process.env): string | undefined {
  return env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined;
}

/**
 * The Hugging Face hub cache, with huggingface_hub's precedence (what @huggingface/hub's
 * getHFHubCachePath reads from process.env; here from `env`, so tests and `--models` can move it):
 * HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub.
 */
export function hubCacheDir(env: Env = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HUGGINGFACE_HUB_CACHE) return env.HUGGINGFACE_HUB_CACHE;
  const home = env.HF_HOME ?? join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'huggingface');
  return join(home, 'hub');
}

/** `h94/IP-Adapter` → `models--h94--IP-Adapter` (the cache's folder for the repo). */
export function repoFolder(repo: string): string {
  return getRepoFolderName({ name: repo, type: 'model' });
}

/** `models--h94--IP-Adapter` → `h94/IP-Adapter`; undefined for datasets, spaces and other folders. */
export function repoFromFolder(folder: string): string | undefined {
  const m = /^models--([^/\\]+?)--(.+)$/.exec(folder);
  return m ? `${m[1]}/${m[2].split('--').join('/')}` : undefined;
}

export function resolveUrl(endpoint: string, repo: string, revision: string, path: string): string {
  const enc = (s: string) => s.split('/').map(encodeURIComponent).join('/');
  return `${endpoint.replace(/\/+$/, '')}/${enc(repo)}/resolve/${encodeURIComponent(revision)}/${enc(path)}`;
}

export class HubError extends Error {
  constructor(readonly code: 'offline' | 'not_found' | 'auth' | 'http' | 'redirects', message: string, readonly status?: number) {
    super(message);
    this.name = 'HubError';
  }
}

/** What the hub knows about one file before a byte of it is fetched. */
export interface HubFileInfo {
  readonly size: number;
  /** sha256 of an LFS file (its blob name in the cache). */
  readonly sha256?: string;
  /** git blob sha1 of a small, non-LFS file (its blob name in the cache). */
  readonly gitSha1?: string;
  /** The commit the revision points at (the cache's snapshot folder). */
  readonly commit?: string;
}

export interface HubAccess {
  readonly endpoint: string;
  readonly token?: string;
}

/**
 * fetch for @huggingface/hub calls: the bearer token on the hub's origin only (any token format,
 * mirrors included), and connection failures turned into a message naming the host.
 */
export function hubFetch(access: HubAccess): typeof fetch {
  const origin = new URL(access.endpoint).origin;
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const headers = new Headers(init?.headers);
    if (access.token && new URL(url).origin === origin) headers.set('authorization', `Bearer ${access.token}`);
    try {
      return await fetch(input, { ...init, headers });
    } catch (e) {
      throw networkError(e, url, access.endpoint) ?? e;
    }
  };
}

export async function fileInfo(repo: string, revision: string, path: string, access: HubAccess): Promise<HubFileInfo> {
  let infos;
  try {
    infos = await pathsInfo({ repo: { type: 'model', name: repo }, paths: [path], revision, expand: true, hubUrl: access.endpoint, fetch: hubFetch(access) });
  } catch (e) {
    if (e instanceof HubApiError) throw apiError(e.statusCode, e.message, { repo, path, revision });
    throw e;
  }
  const info = infos.find((i) => i.path === path && i.type === 'file');
  if (!info) throw new HubError('not_found', `file not found on the hub: ${path} in ${repo}@${revision} (404)`, 404);
  const lfsSha = info.lfs?.oid;
  return {
    size: info.size,
    sha256: lfsSha && /^[0-9a-f]{64}$/.test(lfsSha) ? lfsSha : undefined,
    gitSha1: !info.lfs && info.oid && /^[0-9a-f]{40}$/.test(info.oid) ? info.oid : undefined,
    commit: info.lastCommit?.id && /^[0-9a-f]{40}$/.test(info.lastCommit.id) ? info.lastCommit.id : undefined,
  };
}

/** An API error (paths-info) as a sentence naming the repo and file. */
function apiError(status: number, message: string, what: { repo: string; path: string; revision: string }): HubError {
  if (status === 404 && /revision/i.test(message)) return new HubError('not_found', `revision "${what.revision}" not found in ${what.repo}`, status);
  if (status === 404 || ((status === 401 || status === 403) && /not found/i.test(message))) return new HubError('not_found', `repository ${what.repo} not found (or private: set HF_TOKEN)`, status);
  if (status === 401 || status === 403) {
    if (/gated/i.test(message)) return new HubError('auth', `${what.repo} is gated: accept its terms on the hub and set HF_TOKEN (${status})`, status);
    return new HubError('auth', `access to ${what.path} in ${what.repo} denied (${status}); set HF_TOKEN to a token that can read ${what.repo}`, status);
  }
  return new HubError('http', `hub answered ${status} for ${what.path} in ${what.repo}@${what.revision}`, status);
}

const OFFLINE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN', 'UND_ERR_CONNECT_TIMEOUT', 'ECONNRESET', 'UND_ERR_SOCKET', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']);

/** The innermost error of a fetch failure (`TypeError: fetch failed` → cause → AggregateError → …). */
function rootCause(err: unknown): { code?: string; message?: string } {
  let e: unknown = err;
  let found: { code?: string; message?: string } = {};
  for (let i = 0; i < 5 && e; i++) {
    const code = (e as { code?: unknown }).code;
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && message !== 'fetch failed') found = { ...found, message };
    if (typeof code === 'string') return { code, message: found.message };
    const errors = (e as { errors?: unknown }).errors; // AggregateError from happy-eyeballs connects
    e = Array.isArray(errors) && errors.length ? errors[0] : (e as { cause?: unknown }).cause;
  }
  return found;
}

/** The error code buried in a fetch failure, if any. */
export function networkErrorCode(err: unknown): string | undefined {
  return rootCause(err).code;
}

/**
 * A connection failure as the user should read it — the host, the cause, the offline hint and, for a
 * mirror, where the endpoint came from — instead of undici's bare "fetch failed". Undefined when `err`
 * is not a connection failure.
 */
export function networkError(err: unknown, url: string, endpoint?: string): HubError | undefined {
  if (err instanceof HubError) return err;
  const isFetchFailure = err instanceof TypeError && /fetch failed/.test(err.message);
  const { code, message } = rootCause(err);
  if (!isFetchFailure && !(code && OFFLINE_CODES.has(code))) return undefined;
  const host = new URL(url).host;
  const why = code ?? message ?? 'connection failed';
  const mirror = endpoint && endpoint !== DEFAULT_ENDPOINT && new URL(endpoint).host === host ? ` (HF_ENDPOINT is ${endpoint}: is that server running?)` : '';
  return new HubError('offline', `cannot reach ${host}; are you offline? (${why})${mirror}`);
}

/** Kept for callers that only have the URL. */
export function offlineError(err: unknown, url: string): HubError | undefined {
  return networkError(err, url);
}

/** Turns a non-success answer to a file request into an error naming the repo and file. */
export function statusError(status: number, headers: Headers, what: { repo: string; path: string; revision: string }): HubError {
  const code = headers.get('x-error-code');
  const file = `${what.path} in ${what.repo}@${what.revision}`;
  if (status === 404 || code === 'EntryNotFound' || code === 'RevisionNotFound') {
    if (code === 'RevisionNotFound') return new HubError('not_found', `revision "${what.revision}" not found in ${what.repo}`, status);
    if (code === 'RepoNotFound') return new HubError('not_found', `repository ${what.repo} not found (or private: set HF_TOKEN)`, status);
    return new HubError('not_found', `file not found on the hub: ${file} (404)`, status);
  }
  if (status === 401 || status === 403) {
    if (code === 'RepoNotFound') return new HubError('not_found', `repository ${what.repo} not found (or private: set HF_TOKEN)`, status);
    if (code === 'GatedRepo') return new HubError('auth', `${what.repo} is gated: accept its terms on the hub and set HF_TOKEN (${status})`, status);
    return new HubError('auth', `access to ${file} denied (${status}); set HF_TOKEN to a token that can read ${what.repo}`, status);
  }
  return new HubError('http', `hub answered ${status} for ${file}`, status);
}
