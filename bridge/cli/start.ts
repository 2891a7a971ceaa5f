/** `ipa-bridge start`: load the engine, start the daemon, shut down cleanly on SIGINT/SIGTERM. */
import type { Engine } from '../../engine/api.ts';
import { DEFAULTS, isLoopback, loadOrCreateToken, type DaemonConfig, type Provider } from '../config.ts';
import { loadEngineFactory } from '../engine-loader.ts';
import { createLogger, type Logger } from '../log.ts';
import { startDaemon, type DaemonHandle } from '../server.ts';
import { flag, num, parse, str, UsageError, type Options, type Values } from './args.ts';
import { START_HELP } from './help.ts';

const MB = 1024 * 1024;

export const START_OPTIONS: Options = {
  port: { type: 'string' },
  models: { type: 'string' },
  cpu: { type: 'boolean' },
  cuda: { type: 'boolean' },
  host: { type: 'string' },
  'allow-remote': { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  'max-pixels': { type: 'string' },
  'max-input-pixels': { type: 'string' },
  'max-payload': { type: 'string' },
  'max-connections': { type: 'string' },
  'job-rate': { type: 'string' },
  'job-burst': { type: 'string' },
  'ping-interval': { type: 'string' },
  grace: { type: 'string' },
  'frame-timeout': { type: 'string' },
  'result-ttl': { type: 'string' },
  'result-cache': { type: 'string' },
  'blob-cache': { type: 'string' },
  // Not in --help: which module provides createEngine (tests use "test").
  engine: { type: 'string' },
};

export function providerOf(v: Values): Provider {
  if (flag(v, 'cpu') && flag(v, 'cuda')) throw new UsageError('choose one of --cpu and --cuda');
  return flag(v, 'cuda') ? 'cuda' : 'cpu';
}

/** Daemon settings from the command line (the token comes from loadOrCreateToken). */
export function configFromArgs(v: Values, token: string): DaemonConfig {
  const host = str(v, 'host');
  if (host && !isLoopback(host) && !flag(v, 'allow-remote')) {
    throw new UsageError(`--host ${host} would expose the daemon beyond this machine; add --allow-remote if you mean it`);
  }
  const n = (name: string, min: number, max: number, dflt: number, scale = 1): number => (num(v, name, min, max, true) ?? dflt / scale) * scale;
  return {
    ...DEFAULTS,
    token,
    port: n('port', 0, 65535, DEFAULTS.port),
    hosts: host ? [host] : DEFAULTS.hosts,
    modelsDir: str(v, 'models'),
    provider: providerOf(v),
    verbose: flag(v, 'verbose'),
    maxPixels: n('max-pixels', 64 * 64, 4096 * 4096, DEFAULTS.maxPixels),
    maxInputPixels: n('max-input-pixels', 64 * 64, 16384 * 16384, DEFAULTS.maxInputPixels),
    maxPayload: n('max-payload', 1024, 2 ** 31 - 1, DEFAULTS.maxPayload),
    maxConnections: n('max-connections', 1, 10_000, DEFAULTS.maxConnections),
    jobRate: num(v, 'job-rate', 0.01, 10_000) ?? DEFAULTS.jobRate,
    jobBurst: n('job-burst', 1, 10_000, DEFAULTS.jobBurst),
    pingIntervalMs: n('ping-interval', 100, 3_600_000, DEFAULTS.pingIntervalMs),
    disconnectGraceMs: n('grace', 0, 86_400_000, DEFAULTS.disconnectGraceMs),
    frameTimeoutMs: n('frame-timeout', 100, 3_600_000, DEFAULTS.frameTimeoutMs),
    resultTtlMs: n('result-ttl', 0, 86_400_000, DEFAULTS.resultTtlMs),
    resultCacheBytes: n('result-cache', 0, 1 << 20, DEFAULTS.resultCacheBytes, MB),
    blobCacheBytes: n('blob-cache', 0, 1 << 20, DEFAULTS.blobCacheBytes, MB),
  };
}

/** Creates the engine; on failure the daemon still starts and tells clients why jobs cannot run. */
export async function createEngineFor(spec: string | undefined, modelsDir: string | undefined, provider: Provider, log: Logger): Promise<{ engine: Engine | null; error?: string }> {
  try {
    const factory = await loadEngineFactory(spec);
    const engine = await factory({ modelsDir, provider });
    return { engine };
  } catch (e) {
    log.error('the engine could not be started; the daemon runs, but jobs will fail', e);
    return { engine: null, error: (e as Error).message };
  }
}

export async function runStart(argv: string[]): Promise<number> {
  const v = parse(argv, START_OPTIONS);
  if (flag(v, 'help')) {
    process.stdout.write(START_HELP);
    return 0;
  }
  const tokenInfo = loadOrCreateToken();
  const config = configFromArgs(v, tokenInfo.token);
  const log = createLogger(config.verbose);
  if (str(v, 'host') && !isLoopback(str(v, 'host')!)) {
    log.warn(`listening on ${str(v, 'host')}: any machine that can reach it and has the token can run jobs. Keep the token secret; prefer an SSH tunnel.`);
  }
  if (tokenInfo.created) log.info(`created a pairing token in ${tokenInfo.source}: ${tokenInfo.token}  (paste it into the plugin; "npx ipa-bridge token" shows it again)`);
  if (tokenInfo.fixedPermissions) log.warn(`${tokenInfo.source} was readable by others; set it back to 0600`);

  const { engine, error } = await createEngineFor(str(v, 'engine'), config.modelsDir, config.provider, log);
  let daemon: DaemonHandle;
  try {
    daemon = await startDaemon({ config, engine, engineError: error, log });
  } catch (e) {
    log.error((e as Error).message);
    await engine?.dispose();
    return 1;
  }
  const url = daemon.url(false);
  // The one stdout line: scripts and tests parse it.
  process.stdout.write(`listening port=${daemon.port} hosts=${daemon.hosts.join(',')} url=${url}\n`);
  log.info(`ipa-bridge ready on ${url} (engine: ${engine ? engine.provider : `unavailable: ${error}`}; token from ${tokenInfo.source === 'env' ? 'IPA_BRIDGE_TOKEN' : tokenInfo.source})`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        log.warn(`${signal} again: exiting now`);
        process.exit(1);
      }
      stopping = true;
      log.info(`${signal}: stopping (cancelling jobs, closing connections)`);
      daemon.close().then(() => {
        log.info('stopped');
        resolve(0);
      }, (e: unknown) => {
        log.error('shutdown failed', e);
        resolve(1);
      });
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}
