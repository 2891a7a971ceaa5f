/**
 * Redis connections for the front and the workers. `--redis` is checked before anything connects; each
 * connection logs an outage once (not once per reconnect attempt) and says when Redis is back.
 * BullMQ needs `maxRetriesPerRequest: null` on connections that block (workers, queue events); the
 * front's command connection fails fast instead (`enableOfflineQueue: false`), so a plugin gets a clear
 * `queue-unavailable` error at once rather than a job that hangs until Redis returns.
 */
import type { RedisOptions as BullRedisOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../log.ts';

export class TeamConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TeamConfigError';
  }
}

/** Checks a `--redis` URL: redis://[user:password@]host[:port][/db] or rediss:// for TLS. */
export function checkRedisUrl(url: string, option = '--redis'): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TeamConfigError(`${option} ${url} is not a URL: use redis://HOST:PORT (or rediss:// for TLS)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new TeamConfigError(`${option} ${url}: the scheme must be redis:// or rediss://, not ${u.protocol}//`);
  if (!u.hostname) throw new TeamConfigError(`${option} ${url} names no host`);
  if (u.pathname && u.pathname !== '/' && !/^\/\d+$/.test(u.pathname)) throw new TeamConfigError(`${option} ${url}: the path must be a database number (/0 … /15)`);
  return url;
}

export type ConnectionRole = 'commands' | 'blocking';

/** A connection for `role`; `name` appears in the log lines. */
export function connectRedis(url: string, role: ConnectionRole, name: string, log: Logger): Redis {
  const opts: RedisOptions = role === 'blocking'
    ? { maxRetriesPerRequest: null }
    : { maxRetriesPerRequest: 1, enableOfflineQueue: false };
  const redis = new Redis(url, { ...opts, lazyConnect: false, connectionName: `ipa-${name}` });
  watchOutages(redis, url, name, log);
  return redis;
}

/** Options BullMQ classes take (they make their own connections from these). */
export function bullConnection(url: string, role: ConnectionRole): BullRedisOptions {
  return role === 'blocking'
    ? { url, maxRetriesPerRequest: null }
    : { url, maxRetriesPerRequest: 1, enableOfflineQueue: false };
}

/** Logs "unreachable" once per outage and "reachable again" when it ends. */
export function watchOutages(emitter: { on(event: 'error', f: (e: Error) => void): unknown; on(event: 'ready', f: () => void): unknown }, url: string, name: string, log: Logger): void {
  let down = false;
  emitter.on('error', (e: Error) => {
    if (down) return;
    down = true;
    log.warn(`Redis ${redact(url)} unreachable for ${name} (${e.message}); retrying until it is back`);
  });
  emitter.on('ready', () => {
    if (!down) return;
    down = false;
    log.info(`Redis ${redact(url)} reachable again (${name})`);
  });
}

/** The URL without its password, for logs. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/** True for the errors a lost Redis connection causes (the caller answers `queue-unavailable`). */
export function isRedisDown(e: unknown): boolean {
  const m = (e as Error)?.message ?? '';
  return /enableOfflineQueue|Connection is closed|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|Stream isn't writeable|max retries per request|MaxRetriesPerRequest/i.test(m);
}
