/** `ipa-bridge start`: load the engine, start the daemon, shut down cleanly on SIGINT/SIGTERM. */
import { Command } from 'commander';
import type { Engine } from '../../engine/api.ts';
import { DEFAULT_PORT } from '../../shared/protocol/constants.ts';
import { DEFAULTS, isLoopback, loadOrCreateToken, type DaemonConfig, type Provider } from '../config.ts';
import { startEngine } from '../engine-host/index.ts';
import { createLogger, type Logger } from '../log.ts';
import { startDaemon, type DaemonHandle } from '../server.ts';
import { addEngineOption, addProviderOptions, intArg, numberArg, providerFrom, UsageError, type ProviderFlags } from './args.ts';
import { START_HELP_AFTER } from './help.ts';
import { hashModelsInBackground, logStartupReport } from './startup-report.ts';

const MB = 1024 * 1024;

export interface StartOptions extends ProviderFlags {
  readonly port?: number;
  readonly models?: string;
  readonly host?: string;
  readonly allowRemote?: boolean;
  readonly verbose?: boolean;
  readonly maxPixels?: number;
  readonly maxInputPixels?: number;
  readonly maxPayload?: number;
  readonly maxConnections?: number;
  readonly jobRate?: number;
  readonly jobBurst?: number;
  readonly pingInterval?: number;
  readonly grace?: number;
  readonly frameTimeout?: number;
  readonly resultTtl?: number;
  readonly resultCache?: number;
  readonly blobCache?: number;
  readonly engine?: string;
}

export function startCommand(ran: (code: number) => void): Command {
  const cmd = new Command('start')
    .description(`run the daemon the plugins connect to (ws://127.0.0.1:${DEFAULT_PORT})`)
    .option('--port <n>', `port to listen on (the plugin manifests allow ${DEFAULT_PORT}; 0 picks a free one)`, intArg(0, 65535), DEFAULT_PORT)
    .option('--models <dir>', 'models folder (a ComfyUI, A1111/Forge, InvokeAI or Fooocus folder works as is)');
  addProviderOptions(cmd, 'execution provider');
  cmd
    .option('--host <h>', 'listen on another interface instead of loopback; needs --allow-remote')
    .option('--allow-remote', 'confirm --host: anyone who can reach H and knows the token can use your GPU')
    .option('-v, --verbose', 'log connections, handshakes and stack traces')
    .option('--max-pixels <n>', 'largest width*height generated', intArg(64 * 64, 4096 * 4096), DEFAULTS.maxPixels)
    .option('--max-input-pixels <n>', 'largest decoded input image (width*height)', intArg(64 * 64, 16384 * 16384), DEFAULTS.maxInputPixels)
    .option('--max-payload <bytes>', 'largest WebSocket message; bigger ones close the connection with 1009', intArg(1024, 2 ** 31 - 1), DEFAULTS.maxPayload)
    .option('--max-connections <n>', 'concurrent connections', intArg(1, 10_000), DEFAULTS.maxConnections)
    .option('--job-rate <n>', 'sustained jobs per second per connection', numberArg({ min: 0.01, max: 10_000 }), DEFAULTS.jobRate)
    .option('--job-burst <n>', 'jobs per connection at once', intArg(1, 10_000), DEFAULTS.jobBurst)
    .option('--ping-interval <ms>', 'ping clients; drop those that miss a pong', intArg(100, 3_600_000), DEFAULTS.pingIntervalMs)
    .option('--grace <ms>', "cancel a disconnected client's queued jobs after this", intArg(0, 86_400_000), DEFAULTS.disconnectGraceMs)
    .option('--frame-timeout <ms>', "how long a job's image frames may take to arrive", intArg(100, 3_600_000), DEFAULTS.frameTimeoutMs)
    .option('--result-ttl <ms>', 'keep finished results for reconnecting clients', intArg(0, 86_400_000), DEFAULTS.resultTtlMs)
    .option('--result-cache <mb>', 'memory for kept results', intArg(0, 1 << 20), DEFAULTS.resultCacheBytes / MB)
    .option('--blob-cache <mb>', 'memory for input images kept by hash', intArg(0, 1 << 20), DEFAULTS.blobCacheBytes / MB)
    .addHelpText('after', START_HELP_AFTER);
  addEngineOption(cmd);
  return cmd.action(async (o: StartOptions) => ran(await runStart(o)));
}

/** Daemon settings from the command line (the token comes from loadOrCreateToken). */
export function configFromArgs(o: StartOptions, token: string): DaemonConfig {
  if (o.host && !isLoopback(o.host) && !o.allowRemote) {
    throw new UsageError(`--host ${o.host} would expose the daemon beyond this machine; add --allow-remote if you mean it`);
  }
  return {
    ...DEFAULTS,
    token,
    port: o.port ?? DEFAULTS.port,
    hosts: o.host ? [o.host] : DEFAULTS.hosts,
    modelsDir: o.models,
    provider: providerFrom(o),
    verbose: o.verbose === true,
    maxPixels: o.maxPixels ?? DEFAULTS.maxPixels,
    maxInputPixels: o.maxInputPixels ?? DEFAULTS.maxInputPixels,
    maxPayload: o.maxPayload ?? DEFAULTS.maxPayload,
    maxConnections: o.maxConnections ?? DEFAULTS.maxConnections,
    jobRate: o.jobRate ?? DEFAULTS.jobRate,
    jobBurst: o.jobBurst ?? DEFAULTS.jobBurst,
    pingIntervalMs: o.pingInterval ?? DEFAULTS.pingIntervalMs,
    disconnectGraceMs: o.grace ?? DEFAULTS.disconnectGraceMs,
    frameTimeoutMs: o.frameTimeout ?? DEFAULTS.frameTimeoutMs,
    resultTtlMs: o.resultTtl ?? DEFAULTS.resultTtlMs,
    resultCacheBytes: o.resultCache !== undefined ? o.resultCache * MB : DEFAULTS.resultCacheBytes,
    blobCacheBytes: o.blobCache !== undefined ? o.blobCache * MB : DEFAULTS.blobCacheBytes,
  };
}

/** Creates the engine; on failure the daemon still starts and tells clients why jobs cannot run. */
export async function createEngineFor(spec: string | undefined, modelsDir: string | undefined, provider: Provider, log: Logger): Promise<{ engine: Engine | null; error?: string }> {
  try {
    // In a child process: onnxruntime's synchronous calls must not stall the daemon (engine-host/).
    const engine = await startEngine(spec, { modelsDir, provider }, log);
    return { engine };
  } catch (e) {
    log.error('the engine could not be started; the daemon runs, but jobs will fail', e);
    return { engine: null, error: (e as Error).message };
  }
}

export async function runStart(o: StartOptions): Promise<number> {
  const tokenInfo = loadOrCreateToken();
  const config = configFromArgs(o, tokenInfo.token);
  const log = createLogger(config.verbose);
  if (o.host && !isLoopback(o.host)) {
    log.warn(`listening on ${o.host}: any machine that can reach it and has the token can run jobs. Keep the token secret; prefer an SSH tunnel.`);
  }
  if (tokenInfo.created) log.info(`created a pairing token in ${tokenInfo.source}: ${tokenInfo.token}  (paste it into the plugin; "npx ipa-bridge token" shows it again)`);
  if (tokenInfo.fixedPermissions) log.warn(`${tokenInfo.source} was readable by others; set it back to 0600`);

  const { engine, error } = await createEngineFor(o.engine, config.modelsDir, config.provider, log);
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
  const lacking = await logStartupReport(engine, config.modelsDir, log);
  if (engine && !o.engine) hashModelsInBackground(config.modelsDir, log);
  const models = lacking ? `; ${lacking} feature${lacking === 1 ? '' : 's'} lack models: see the warnings above` : '';
  log.info(`ipa-bridge ready on ${url} (engine: ${engine ? engine.provider : `unavailable: ${error}`}; token from ${tokenInfo.source === 'env' ? 'IPA_BRIDGE_TOKEN' : tokenInfo.source}${models})`);

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
