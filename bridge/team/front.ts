/**
 * `team serve`: the studio's front door. The same WebSocket protocol as the local daemon, served by the
 * same Session class; what differs is around it: TLS, per-user tokens checked at the upgrade (401 before
 * any WebSocket exists, as locally), the Origin rule and the job rate limit per user, jobs on BullMQ
 * (team-jobs.ts) instead of the in-process queue, and the blob endpoint for workers on the same port.
 * Stopping the front cancels nothing: queued and running jobs go on, and clients resume them by id.
 */
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import type { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';
import type { Capabilities, ModelInfo } from '../../shared/protocol/index.ts';
import { checkOrigin, tokenFromUrl, type UpgradeVerdict } from '../auth.ts';
import { BlobStore } from '../blobs.ts';
import type { DaemonConfig } from '../config.ts';
import { useCoresForImages } from '../image.ts';
import type { Logger } from '../log.ts';
import { RateBucket } from '../rate.ts';
import { describeCapabilities, refuse, watchLiveness } from '../server.ts';
import { Session } from '../session.ts';
import { BRIDGE_VERSION } from '../version.ts';
import { handleTeamHttp } from './blob-http.ts';
import { DiskBlobStore } from './blob-store.ts';
import { WORKER_FRESH_MS, type FrontInfo, type TeamKeys, type WorkerInfo } from './contract.ts';
import { connectRedis, isRedisDown } from './redis.ts';
import { TeamJobs } from './team-jobs.ts';
import type { TlsMaterial } from './tls.ts';
import { hashToken, UserStore } from './users.ts';

export interface TeamFrontOptions {
  redisUrl: string;
  prefix: string;
  keys: TeamKeys;
  /** Session limits (payload, frame timeout, job rate and burst, ping interval…), as the local daemon's. */
  config: DaemonConfig;
  host: string;
  /** Where workers reach this front (default: scheme://host:port, the machine's name for 0.0.0.0). */
  advertiseUrl?: string;
  tls: TlsMaterial | null;
  dataDir: string;
  log: Logger;
  allowedOrigins?: string[];
  maxJobsPerUser: number;
  resultTtlMs: number;
  attempts: number;
}

export interface TeamFrontHandle {
  readonly port: number;
  readonly url: string;
  readonly fingerprint?: string;
  readonly jobs: TeamJobs;
  close(): Promise<void>;
}

/** A looked-up token stays trusted this long (fewer Redis round trips; a removed user is out within it). */
const TOKEN_CACHE_MS = 10_000;

export async function startTeamFront(o: TeamFrontOptions): Promise<TeamFrontHandle> {
  const { config, log, keys } = o;
  useCoresForImages();
  const redis = connectRedis(o.redisUrl, 'commands', 'the front', log);
  const users = new UserStore(redis, keys);
  const store = new DiskBlobStore(`${o.dataDir}/blobs`, o.resultTtlMs + 60_000, log);
  const jobs = new TeamJobs({
    redisUrl: o.redisUrl, prefix: o.prefix, keys, redis, store, log, maxJobsPerUser: o.maxJobsPerUser,
    maxQueue: config.maxQueue, resultTtlMs: o.resultTtlMs, attempts: o.attempts, resultWaitMs: 5 * 60_000,
  });
  await waitForRedis(redis, o.redisUrl, log);
  await jobs.ready();

  // The secret workers show the blob endpoint: made once per studio, kept in Redis.
  let secret: string | undefined;
  const loadSecret = async (): Promise<void> => {
    await redis.set(keys.workerSecret, randomBytes(32).toString('base64url'), 'NX');
    secret = (await redis.get(keys.workerSecret)) ?? undefined;
  };
  await loadSecret();

  const blobs = new BlobStore(config.blobCacheBytes);
  const buckets = new Map<string, RateBucket>();
  const tokenCache = new Map<string, { user: string | undefined; at: number }>();
  const workersCache: { at: number; list: WorkerInfo[] } = { at: 0, list: [] };

  const workers = async (): Promise<WorkerInfo[]> => {
    if (Date.now() - workersCache.at < 2000) return workersCache.list;
    try {
      const all = await redis.hgetall(keys.workers);
      workersCache.list = Object.values(all).map((v) => JSON.parse(v) as WorkerInfo).filter((w) => Date.now() - w.at < WORKER_FRESH_MS);
    } catch {
      // Redis away: the last list stands
    }
    workersCache.at = Date.now();
    return workersCache.list;
  };

  const capabilitiesFor = (user: string) => async (): Promise<Capabilities> => {
    const ws = await workers();
    const models = new Map<string, ModelInfo>();
    for (const w of ws) for (const m of w.models) models.set(m.name, m);
    const first = ws[0];
    const caps = describeCapabilities([...models.values()], first ? { provider: first.provider, fp16: first.fp16, device: first.device } : null,
      'no GPU worker is connected to the studio server yet: jobs wait in the queue until one starts', config);
    return {
      ...caps,
      features: [...caps.features, 'team'],
      team: { user, workers: ws.length, maxJobsPerUser: o.maxJobsPerUser, ...(o.tls ? { fingerprint: o.tls.fingerprint } : {}) },
    };
  };

  const userForToken = async (token: string | null): Promise<{ user?: string; unavailable?: boolean }> => {
    if (!token) return {};
    const h = hashToken(token);
    const cached = tokenCache.get(h);
    if (cached && Date.now() - cached.at < TOKEN_CACHE_MS) return { user: cached.user };
    try {
      const user = await users.userFor(token);
      tokenCache.set(h, { user, at: Date.now() });
      if (tokenCache.size > 10_000) tokenCache.clear();
      return { user };
    } catch (e) {
      if (cached?.user) return { user: cached.user }; // Redis away: a user seen before may go on
      if (isRedisDown(e)) return { unavailable: true };
      throw e;
    }
  };

  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxPayload, perMessageDeflate: false, clientTracking: true });
  const liveness = watchLiveness(wss, config.pingIntervalMs, log);
  let closing = false;

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    socket.on('error', () => undefined);
    void (async (): Promise<UpgradeVerdict & { user?: string }> => {
      if (closing) return { ok: false, status: 503, reason: 'the studio server is restarting' };
      if (wss.clients.size >= config.maxConnections) return { ok: false, status: 503, reason: `too many connections (max ${config.maxConnections})` };
      const origin = checkOrigin(req.headers.origin, o.allowedOrigins);
      if (!origin.ok) return origin;
      const found = await userForToken(tokenFromUrl(req.url));
      if (found.unavailable) return { ok: false, status: 503, reason: 'the studio server cannot check tokens right now (its Redis is unreachable); try again shortly' };
      if (!found.user) return { ok: false, status: 401, reason: 'missing or unknown token (ask the studio admin for yours: npx ipa-bridge team user add NAME)' };
      return { ok: true, user: found.user };
    })().then((verdict) => {
      if (!verdict.ok || !verdict.user) {
        const v = verdict as { status: 401 | 403 | 404 | 503; reason: string };
        log.info(`refused connection from ${remote}${req.headers.origin ? ` (Origin ${req.headers.origin})` : ''}: ${v.status} ${v.reason}`);
        refuse(socket, v.status, v.reason);
        return;
      }
      const user = verdict.user;
      let bucket = buckets.get(user);
      if (!bucket) buckets.set(user, (bucket = new RateBucket(config.jobRate, config.jobBurst)));
      wss.handleUpgrade(req, socket, head, (ws) => {
        liveness.watch(ws);
        ws.on('error', (e) => log.debug(`socket error from ${remote}: ${e.message}`));
        new Session(ws, { config, jobs, blobs, log, capabilities: capabilitiesFor(user), serverVersion: BRIDGE_VERSION }, remote, { user, bucket: bucket! });
        log.debug(`connection from ${remote} as ${user}`);
      });
    }, (e: unknown) => {
      log.error(`checking a connection from ${remote} failed`, e);
      refuse(socket, 503, 'internal error while checking the token');
    });
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (handleTeamHttp(req, res, { store, secret: () => secret, onPreview: (id, step, w, h, rgba) => jobs.preview(id, step, w, h, rgba), maxBytes: config.maxPayload, log })) return;
    res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' });
    res.end(`ipa-bridge studio server: connect with a WebSocket (${o.tls ? 'wss' : 'ws'}://host:port/?token=...)\n`);
  };
  const server: Server = o.tls ? createHttpsServer({ cert: o.tls.cert, key: o.tls.key }, onRequest) : createHttpServer(onRequest);
  server.on('upgrade', onUpgrade);
  server.on('clientError', (_e, socket) => socket.destroy());
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' ? new Error(`port ${config.port} on ${o.host} is in use (choose another with --port)`) : e));
    server.listen({ host: o.host, port: config.port }, () => {
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : config.port);
    });
  });

  const scheme = o.tls ? 'https' : 'http';
  const advertiseHost = o.host === '0.0.0.0' || o.host === '::' ? hostname() : o.host;
  const info: FrontInfo = { url: o.advertiseUrl ?? `${scheme}://${advertiseHost.includes(':') ? `[${advertiseHost}]` : advertiseHost}:${port}`, ...(o.tls ? { fingerprint: o.tls.fingerprint } : {}) };
  const publish = async (): Promise<void> => {
    await redis.set(keys.front, JSON.stringify(info));
    if (!secret) await loadSecret();
  };
  await publish();
  // Re-published now and then: a Redis that lost its data (no persistence) learns it again.
  const republish = setInterval(() => void publish().catch(() => undefined), 10_000);
  republish.unref();

  return {
    port,
    url: `${o.tls ? 'wss' : 'ws'}://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}/`,
    ...(o.tls ? { fingerprint: o.tls.fingerprint } : {}),
    jobs,
    async close() {
      if (closing) return;
      closing = true;
      clearInterval(republish);
      liveness.stop();
      server.close();
      for (const ws of wss.clients) ws.close(1001, 'studio server restarting');
      const end = Date.now() + 2000;
      while (wss.clients.size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      server.closeAllConnections();
      store.close();
      await jobs.close();
      redis.disconnect();
    },
  };
}

/** Start-up waits for Redis (with a clear line per 10 s) rather than failing: it may be starting too. */
async function waitForRedis(redis: Redis, url: string, log: Logger): Promise<void> {
  const t0 = Date.now();
  let told = t0 - 8000; // the first connection takes a moment: warn only after 2 s
  for (;;) {
    try {
      await redis.ping();
      return;
    } catch (e) {
      if (Date.now() - told > 10_000) {
        told = Date.now();
        log.warn(`waiting for Redis at ${url.replace(/:[^:@/]*@/, ':***@')} (${(e as Error).message}); ${Math.round((Date.now() - t0) / 1000)} s so far`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
