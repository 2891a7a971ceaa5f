/**
 * Model hub conventions (no client library): file URLs are
 * `${endpoint}/${repo}/resolve/${revision}/${path}`; large (LFS) files answer with a redirect to a CDN
 * and carry their sha256 in `X-Linked-Etag` and size in `X-Linked-Size`; small files are served directly
 * with their git blob sha1 as `ETag`. `HF_ENDPOINT` moves the endpoint (mirrors, tests), `HF_TOKEN` is
 * sent as a bearer token to the hub only.
 */
import type { Env } from './paths.ts';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export function hubEndpoint(env: Env = process.env): string {
  return (env.HF_ENDPOINT || DEFAULT_ENDPOINT).replace(/\/+$/, '');
}

export function hubToken(env: Env = process.env): string | undefined {
  return env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined;
}

export function resolveUrl(endpoint: string, repo: string, revision: string, path: string): string {
  const enc = (s: string) => s.split('/').map(encodeURIComponent).join('/');
  return `${endpoint.replace(/\/+$/, '')}/${enc(repo)}/resolve/${encodeURIComponent(revision)}/${enc(path)}`;
}

export interface HubFileMeta {
  /** sha256 of an LFS file (X-Linked-Etag, or an ETag that is 64 hex digits). */
  readonly sha256?: string;
  /** git blob sha1 of a small file (a 40-hex ETag). */
  readonly gitSha1?: string;
  readonly size?: number;
  readonly commit?: string;
}

/** Strips the weak marker and quotes: W/"abc" -> abc. */
export function normalizeEtag(v: string | null | undefined): string | undefined {
  if (!v) return undefined;
  return v.trim().replace(/^W\//, '').replace(/^"|"$/g, '').toLowerCase() || undefined;
}

export function parseHubHeaders(h: Headers): HubFileMeta {
  const linked = normalizeEtag(h.get('x-linked-etag'));
  const etag = linked ?? normalizeEtag(h.get('etag'));
  const sizeHeader = h.get('x-linked-size');
  const size = sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : undefined;
  return {
    sha256: etag && /^[0-9a-f]{64}$/.test(etag) ? etag : undefined,
    gitSha1: etag && /^[0-9a-f]{40}$/.test(etag) ? etag : undefined,
    size,
    commit: h.get('x-repo-commit') ?? undefined,
  };
}

export class HubError extends Error {
  constructor(readonly code: 'offline' | 'not_found' | 'auth' | 'http' | 'redirects', message: string, readonly status?: number) {
    super(message);
    this.name = 'HubError';
  }
}

const OFFLINE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN', 'UND_ERR_CONNECT_TIMEOUT', 'ECONNRESET']);

/** The error code buried in a fetch failure (`TypeError: fetch failed` → cause → code). */
export function networkErrorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const errors = (e as { errors?: unknown }).errors; // AggregateError from happy-eyeballs connects
    if (Array.isArray(errors) && errors.length) e = errors[0];
    else e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A connection failure as the user should read it; undefined when it is not one. */
export function offlineError(err: unknown, url: string): HubError | undefined {
  const code = networkErrorCode(err);
  if (!code || !OFFLINE_CODES.has(code)) return undefined;
  const host = new URL(url).host;
  return new HubError('offline', `cannot reach ${host}; are you offline? (${code})`);
}

/** Turns a non-success hub answer into an error naming the repo and file. */
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
