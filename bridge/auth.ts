/** Upgrade-time checks: who may open a WebSocket to the daemon. Pure functions, no sockets. */
import { createHash, timingSafeEqual } from 'node:crypto';

export type UpgradeVerdict = { ok: true } | { ok: false; status: 401 | 403 | 404 | 503; reason: string };

/**
 * A web page must not drive the daemon: an http(s)/ws(s) Origin is refused. No Origin (UXP, CLI, native
 * apps) and the opaque origin "null" (Figma's plugin UI iframe, sandboxed pages) are accepted.
 */
export function checkOrigin(origin: string | undefined, allowed: readonly string[] = []): UpgradeVerdict {
  if (origin === undefined || origin === '' || origin === 'null') return { ok: true };
  if (allowed.includes(origin)) return { ok: true };
  let scheme: string;
  try {
    scheme = new URL(origin).protocol;
  } catch {
    return { ok: false, status: 403, reason: 'unparseable Origin header' };
  }
  if (['http:', 'https:', 'ws:', 'wss:'].includes(scheme)) return { ok: false, status: 403, reason: `web origin ${origin} refused` };
  return { ok: true };
}

/** Constant-time comparison (hashing first makes the lengths equal). */
export function tokenMatches(given: string | null, expected: string): boolean {
  if (!given) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token travels as the `token` query parameter of the WebSocket URL. */
export function tokenFromUrl(url: string | undefined): string | null {
  if (!url) return null;
  try {
    return new URL(url, 'http://localhost').searchParams.get('token');
  } catch {
    return null;
  }
}

export function checkUpgrade(req: { url?: string; origin?: string }, token: string, allowedOrigins: readonly string[] = []): UpgradeVerdict {
  const o = checkOrigin(req.origin, allowedOrigins);
  if (!o.ok) return o;
  if (!tokenMatches(tokenFromUrl(req.url), token)) return { ok: false, status: 401, reason: 'missing or wrong token (run `npx ipa-bridge token` and paste it into the plugin)' };
  return { ok: true };
}
