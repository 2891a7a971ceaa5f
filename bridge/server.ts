/**
 * The daemon's network side: HTTP servers on loopback (127.0.0.1 and ::1), upgrade checks (Origin 403,
 * token 401, connection limit 503) before any WebSocket exists, ws with a payload cap (1009 beyond it),
 * ping/pong liveness, and an orderly shutdown.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Engine } from '../engine/api.ts';
import { ADAPTER_KINDS, CONTROL_TYPES, SAMPLERS, type Capabilities, type ModelInfo } from '../shared/protocol/messages.ts';
import { checkUpgrade, type UpgradeVerdict } from './auth.ts';
import { BlobStore } from './blobs.ts';
import type { DaemonConfig } from './config.ts';
import { useCoresForImages } from './image.ts';
import { JobManager } from './jobs.ts';
import { familyCapabilities, jobFamily } from './models/families.ts';
import { fewStepOf } from './models/few-step.ts';
import { missingFeatures } from './models/features.ts';
import type { Logger } from './log.ts';
import { Session } from './session.ts';
import { BRIDGE_VERSION } from './version.ts';

export interface DaemonHandle {
  readonly port: number;
  /** Addresses actually listened on. */
  readonly hosts: string[];
  readonly jobs: JobManager;
  /** ws://host:port/?token=… for the first host. */
  url(withToken?: boolean): string;
  close(): Promise<void>;
}

export interface StartOptions {
  config: DaemonConfig;
  engine: Engine | null;
  /** Why `engine` is null: shown to clients in the handshake and in job errors. */
  engineError?: string;
  log: Logger;
  /** Origins accepted besides none and "null" (an escape hatch for unusual hosts). */
  allowedOrigins?: string[];
}

const STATUS_TEXT: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 426: 'Upgrade Required', 503: 'Service Unavailable' };

export async function startDaemon(opts: StartOptions): Promise<DaemonHandle> {
  const { config, log } = opts;
  useCoresForImages();
  const capabilities = capabilitiesSource(opts.engine, opts.engineError, config, log);
  const jobs = new JobManager({
    engine: opts.engine, engineError: opts.engineError, maxPixels: config.maxPixels, maxQueue: config.maxQueue,
    disconnectGraceMs: config.disconnectGraceMs, resultTtlMs: config.resultTtlMs, resultCacheBytes: config.resultCacheBytes, log,
    familyOf: async (checkpoint) => jobFamily((await capabilities()).models, checkpoint),
  });
  const blobs = new BlobStore(config.blobCacheBytes);
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxPayload, perMessageDeflate: false, clientTracking: true });
  const liveness = watchLiveness(wss, config.pingIntervalMs, log);
  let closing = false;

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const verdict: UpgradeVerdict = closing
      ? { ok: false, status: 503, reason: 'shutting down' }
      : wss.clients.size >= config.maxConnections
        ? { ok: false, status: 503, reason: `too many connections (max ${config.maxConnections})` }
        : checkUpgrade({ url: req.url, origin: req.headers.origin }, config.token, opts.allowedOrigins);
    if (!verdict.ok) {
      log.info(`refused connection from ${remote}${req.headers.origin ? ` (Origin ${req.headers.origin})` : ''}: ${verdict.status} ${verdict.reason}`);
      refuse(socket, verdict.status, verdict.reason);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      liveness.watch(ws);
      ws.on('error', (e) => log.debug(`socket error from ${remote}: ${e.message}`)); // e.g. 1009 payload too big
      new Session(ws, { config, jobs, blobs, log, capabilities, serverVersion: BRIDGE_VERSION }, remote);
      log.debug(`connection from ${remote}`);
    });
  };

  const makeServer = (): Server => {
    const server = createServer((_req, res) => {
      // Plain HTTP gets nothing but a pointer: the daemon only speaks WebSocket.
      res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' });
      res.end('ipa-bridge: connect with a WebSocket (ws://host:port/?token=...)\n');
    });
    server.on('upgrade', onUpgrade);
    server.on('clientError', (_e, socket) => socket.destroy());
    return server;
  };
  // With --port 0 the first host picks the port; another host may already use it there: pick again.
  let bound: Bound | undefined;
  for (let attempt = 0; !bound; attempt++) {
    try {
      bound = await listenAll(config.hosts, config.port, makeServer, log);
    } catch (e) {
      if (!(e instanceof PortTaken) || config.port !== 0 || attempt >= 5) throw e instanceof PortTaken ? new Error(e.message) : e;
    }
  }
  const { servers, hosts, port } = bound;

  const pruner = setInterval(() => jobs.prune(), 60_000);
  pruner.unref();

  const handle: DaemonHandle = {
    port,
    hosts,
    jobs,
    url: (withToken = true) => `ws://${formatHost(hosts[0])}:${port}/${withToken ? `?token=${encodeURIComponent(config.token)}` : ''}`,
    async close() {
      if (closing) return;
      closing = true;
      liveness.stop();
      clearInterval(pruner);
      for (const s of servers) s.close();
      await jobs.shutdown();
      for (const ws of wss.clients) ws.close(1001, 'daemon shutting down');
      await waitFor(() => wss.clients.size === 0, 2000);
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      for (const s of servers) s.closeAllConnections?.();
      await opts.engine?.dispose().catch((e: unknown) => log.error('engine dispose failed', e));
    },
  };
  return handle;
}

class PortTaken extends Error {}

interface Bound {
  servers: Server[];
  hosts: string[];
  port: number;
}

/** Listens on every host at one port; a host without that address family (no IPv6) is skipped. */
async function listenAll(wanted: readonly string[], firstPort: number, make: () => Server, log: Logger): Promise<Bound> {
  const servers: Server[] = [];
  const hosts: string[] = [];
  let port = firstPort;
  for (const host of wanted) {
    const server = make();
    try {
      port = await listen(server, host, port);
      servers.push(server);
      hosts.push(host);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (servers.length > 0 && ['EADDRNOTAVAIL', 'EAFNOSUPPORT', 'EINVAL'].includes(err.code ?? '')) {
        log.debug(`not listening on ${host}: ${err.code}`); // no IPv6 loopback on this machine
        continue;
      }
      for (const s of servers) s.close();
      if (err.code === 'EADDRINUSE') throw new PortTaken(`port ${port} on ${host} is in use: is another ipa-bridge running? (choose another with --port)`);
      throw e;
    }
  }
  return { servers, hosts, port };
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : port);
    });
  });
}

/** Liveness: a client that did not answer the previous ping (nor sent anything) is dropped. */
export function watchLiveness(wss: WebSocketServer, intervalMs: number, log: Logger): { watch(ws: WebSocket): void; stop(): void } {
  const alive = new WeakMap<WebSocket, boolean>();
  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.get(ws)) {
        log.debug('dropping a connection that stopped answering pings');
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, intervalMs);
  heartbeat.unref();
  return {
    watch(ws) {
      alive.set(ws, true);
      ws.on('pong', () => alive.set(ws, true));
      ws.on('message', () => alive.set(ws, true));
    },
    stop: () => clearInterval(heartbeat),
  };
}

/** Answers an upgrade with a plain HTTP error: no WebSocket is created. */
export function refuse(socket: Duplex, status: number, reason: string): void {
  const body = `${reason}\n`;
  socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  socket.on('error', () => undefined);
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** The handshake's capabilities; the model list is cached briefly (scanning folders is not free). */
function capabilitiesSource(engine: Engine | null, engineError: string | undefined, config: DaemonConfig, log: Logger): () => Promise<Capabilities> {
  let cache: { at: number; models: ModelInfo[] } | undefined;
  return async () => {
    if (engine && (!cache || Date.now() - cache.at > 10_000)) {
      try {
        // base and fewStep let the panels offer only what is installed (their Live/Fast/Quality presets).
        const models = (await engine.listModels()).map((m): ModelInfo => {
          const fewStep = fewStepOf(m.name, m.kind);
          return { name: m.name, kind: m.kind, bytes: m.bytes, ...(m.base ? { base: m.base } : {}), ...(fewStep ? { fewStep } : {}), ...(m.default ? { default: true } : {}) };
        });
        cache = { at: Date.now(), models };
      } catch (e) {
        log.error('listing models failed', e);
        cache = { at: Date.now(), models: [] };
      }
    }
    const models = cache?.models ?? [];
    return describeCapabilities(models, engine ? { provider: engine.provider, ...(engine.runtime ? { fp16: engine.runtime.fp16, device: engine.runtime.device } : {}) } : null, engineError, config);
  };
}

/** What an engine runs on, as the handshake reports it. */
export interface EngineInfo {
  provider: string;
  fp16?: boolean;
  device?: string;
}

/**
 * The handshake's capabilities for a model list and an engine (null: none loaded, `engineError` says
 * why). The team front calls it with the models and engine its workers report.
 */
export function describeCapabilities(models: ModelInfo[], engine: EngineInfo | null, engineError: string | undefined, config: Pick<DaemonConfig, 'maxPixels' | 'maxInputPixels' | 'maxPayload' | 'maxBatch'>): Capabilities {
  return {
    models,
    maxPixels: config.maxPixels,
    maxInputPixels: config.maxInputPixels,
    maxPayload: config.maxPayload,
    maxBatch: config.maxBatch,
    samplers: [...SAMPLERS],
    // What the installed models allow (model kinds are registry roles: "ipadapter:plus", "controlnet:pose", …).
    adapters: ADAPTER_KINDS.filter((k) => models.some((m) => m.kind === `ipadapter:${k}`)),
    controls: CONTROL_TYPES.filter((t) => models.some((m) => m.kind === `controlnet:${t}`)),
    families: familyCapabilities(models),
    features: ['txt2img', 'img2img', 'inpaint', 'crop-to-mask', 'ip-adapter', 'controlnet', 'pose-keypoints', 'preview', 'resume', 'blob-hash', 'control-images'],
    provider: engine ? engine.provider : null,
    // The same list the start-up report prints, so the panels can show what to fetch and how.
    ...(engine ? { missing: missingFeatures(models) } : {}),
    ...(engine?.fp16 !== undefined ? { fp16: engine.fp16 } : {}),
    ...(engine?.device ? { device: engine.device } : {}),
    ...(engine ? {} : { engineError: engineError ?? 'no engine' }),
  };
}

function formatHost(h: string): string {
  return h.includes(':') ? `[${h}]` : h;
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}
