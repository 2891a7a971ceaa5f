/**
 * `ipa-bridge team …`: the studio server's commands (serve, worker, user add|list|remove, fingerprint).
 * Options are checked before anything connects; a wrong option or value exits 2 naming it, a failure
 * (Redis unreachable, a user that exists) exits 1 with a message that says what to do.
 */
import { tmpdir } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { Redis } from 'ioredis';
import { configDir, DEFAULTS, isLoopback, type DaemonConfig } from '../config.ts';
import { addEngineOption, addProviderOptions, intArg, numberArg, providerFrom, UsageError, type ProviderFlags } from '../cli/args.ts';
import { createEngineFor } from '../cli/start.ts';
import { createLogger, type Logger } from '../log.ts';
import { DEFAULT_PREFIX, teamKeys } from './contract.ts';
import { startTeamFront, type TeamFrontHandle } from './front.ts';
import { checkRedisUrl, redact, TeamConfigError } from './redis.ts';
import { fingerprintOf, loadTls, selfSignedPaths } from './tls.ts';
import { checkUserName, UserError, UserStore } from './users.ts';
import { startTeamWorker, type TeamWorkerHandle } from './worker.ts';

/** The studio server's default port (the local daemon keeps 41872, so both can run on one machine). */
export const DEFAULT_TEAM_PORT = 41873;

const TEAM_HELP_AFTER = `
A studio server: designers' plugins connect to "team serve" (same protocol as the local daemon, one
token per user, TLS); "team worker" runs on each GPU machine (one per GPU); Redis with BullMQ carries
jobs, progress, cancellation and result metadata; images stay on the front (its blob store).
Redis must keep its data and never evict keys:  redis-server --appendonly yes --maxmemory-policy noeviction
See docs/team.md.

  npx ipa-bridge team user add alice --redis redis://redis.studio:6379     # prints alice's token
  npx ipa-bridge team serve --redis redis://redis.studio:6379               # wss://0.0.0.0:${DEFAULT_TEAM_PORT}
  npx ipa-bridge team fingerprint                                           # for the plugins' first connect
  npx ipa-bridge team worker --redis redis://redis.studio:6379 --models /models --provider cuda --device 0
`;

const redisOption = (): Option => new Option('--redis <url>', 'Redis URL, redis://[user:password@]HOST:PORT[/db] (or rediss:// for TLS)')
  .env('IPA_BRIDGE_REDIS')
  .argParser((v: string): string | undefined => {
    if (v.trim() === '') return undefined; // an empty IPA_BRIDGE_REDIS is no setting
    try {
      return checkRedisUrl(v);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message.replace(/^--redis \S+ ?/, ''));
    }
  });
const prefixOption = (): Option => new Option('--prefix <name>', 'key prefix in Redis (separates studios sharing one Redis)').default(DEFAULT_PREFIX)
  .argParser((v: string) => {
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(v)) throw new InvalidArgumentError('must be 1–32 letters, digits, "_" or "-".');
    return v;
  });
const dataOption = (): Option => new Option('--data <dir>', 'front data folder: blob store and the generated certificate [config folder/team]');

function needRedis(url: string | undefined): string {
  if (!url) throw new UsageError('--redis URL is required (or set IPA_BRIDGE_REDIS), e.g. --redis redis://127.0.0.1:6379');
  return url;
}

function dataDir(d: string | undefined): string {
  return d ?? join(configDir(), 'team');
}

interface ServeFlags {
  readonly redis?: string;
  readonly prefix: string;
  readonly port: number;
  readonly host: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tlsName?: string[];
  readonly tls: boolean;
  readonly data?: string;
  readonly advertise?: string;
  readonly maxJobsPerUser: number;
  readonly maxQueue: number;
  readonly maxConnections: number;
  readonly jobRate: number;
  readonly jobBurst: number;
  readonly resultTtl: number;
  readonly attempts: number;
  readonly maxPixels: number;
  readonly pingInterval: number;
  readonly allowOrigin?: string[];
  readonly verbose?: boolean;
}

interface WorkerFlags extends ProviderFlags {
  readonly redis?: string;
  readonly prefix: string;
  readonly models?: string;
  readonly device?: number;
  readonly lockDuration: number;
  readonly stalledInterval: number;
  readonly maxStalled: number;
  readonly frontPatience: number;
  readonly spool?: string;
  readonly uploadWait: number;
  readonly maxPixels: number;
  readonly engine?: string;
  readonly verbose?: boolean;
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

export function teamCommand(ran: (code: number) => void): Command {
  const team = new Command('team')
    .description('studio server: several designers and GPUs on Redis (serve, worker, user, fingerprint)')
    .addHelpText('after', TEAM_HELP_AFTER);

  team.addCommand(new Command('serve')
    .description(`the studio's front door: the plugins' WebSocket protocol over TLS with per-user tokens (port ${DEFAULT_TEAM_PORT})`)
    .addOption(redisOption())
    .addOption(prefixOption())
    .option('--port <n>', 'port to listen on (0 picks a free one)', intArg(0, 65535), DEFAULT_TEAM_PORT)
    .option('--host <h>', 'interface to listen on', '0.0.0.0')
    .option('--tls-cert <file>', "PEM certificate (with --tls-key); without both a self-signed one is made and kept in --data")
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--tls-name <name>', 'extra host name or IP for the generated certificate (repeatable)', collect)
    .option('--no-tls', 'plain ws:// (only behind a TLS proxy or on loopback: tokens would cross the network in clear)')
    .addOption(dataOption())
    .option('--advertise <url>', 'how workers reach this front (default: https://THIS-HOST:PORT)')
    .option('--max-jobs-per-user <n>', 'jobs one user may have queued or running', intArg(1, 100_000), 32)
    .option('--max-queue <n>', 'queued jobs in the whole studio before new ones are refused', intArg(1, 1_000_000), 10_000)
    .option('--max-connections <n>', 'concurrent plugin connections', intArg(1, 100_000), 256)
    .option('--job-rate <n>', 'sustained jobs per second per user', numberArg({ min: 0.01, max: 10_000 }), DEFAULTS.jobRate)
    .option('--job-burst <n>', 'jobs per user at once', intArg(1, 10_000), DEFAULTS.jobBurst)
    .option('--result-ttl <ms>', 'keep finished jobs and their images for resume', intArg(1000, 30 * 86_400_000), DEFAULTS.resultTtlMs)
    .option('--attempts <n>', 'tries for a job whose worker fails outright (stalled workers are separate)', intArg(1, 20), 3)
    .option('--max-pixels <n>', 'largest width*height generated', intArg(64 * 64, 4096 * 4096), DEFAULTS.maxPixels)
    .option('--ping-interval <ms>', 'ping clients; drop those that miss a pong', intArg(100, 3_600_000), DEFAULTS.pingIntervalMs)
    .option('--allow-origin <origin>', 'accept this web Origin too (repeatable; plugins need none)', collect)
    .option('-v, --verbose', 'log connections and job routing')
    .addHelpText('after', `
Prints one line on stdout when ready: "listening port=N url=wss://... fingerprint=AB:CD:..." and logs
to stderr. Users: "team user add NAME". Stopping it (Ctrl+C) cancels nothing: jobs go on on the workers
and plugins resume them when it is back.
`)
    .action(async (o: ServeFlags) => ran(await runServe(o))));

  const worker = new Command('worker')
    .description('run jobs from the studio queue on this machine\'s GPU (one per GPU)')
    .addOption(redisOption())
    .addOption(prefixOption())
    .option('--models <dir>', 'models folder (a ComfyUI, A1111/Forge, InvokeAI or Fooocus folder works as is)');
  addProviderOptions(worker, 'execution provider');
  worker
    .option('--device <n>', 'GPU index for this worker (sets CUDA_VISIBLE_DEVICES for its engine)', intArg(0, 63))
    .option('--lock-duration <ms>', 'a worker silent this long counts as dead; its job runs again elsewhere', intArg(500, 3_600_000), 30_000)
    .option('--stalled-interval <ms>', 'how often to look for jobs of dead workers', intArg(200, 3_600_000), 15_000)
    .option('--max-stalled <n>', 're-runs after worker deaths before a job fails', intArg(0, 100), 2)
    .option('--front-patience <ms>', 'keep retrying an unreachable front this long before an attempt fails', intArg(1000, 86_400_000), 5 * 60_000)
    .option('--spool <dir>', 'where result images wait while the front is unreachable [temp folder/ipa-bridge-spool-PREFIX]')
    .option('--upload-wait <ms>', 'retry an unreachable front this long before spooling a result', intArg(0, 3_600_000), 2000)
    .option('--max-pixels <n>', 'largest width*height generated', intArg(64 * 64, 4096 * 4096), DEFAULTS.maxPixels)
    .option('-v, --verbose', 'log each step')
    .addHelpText('after', `
Finds the front through Redis (it registers its address and certificate fingerprint there) and pins
that certificate. Prints "worker ready id=..." on stdout when it takes jobs. SIGINT/SIGTERM: finish the
running job, then exit (twice: exit now; the job runs again on another worker).
`);
  addEngineOption(worker);
  team.addCommand(worker.action(async (o: WorkerFlags) => ran(await runWorker(o))));

  const user = new Command('user').description('studio users and their tokens (stored hashed in Redis)');
  user.addCommand(new Command('add')
    .description('make a user; prints their token on the last line (shown once: hand it to them)')
    .argument('<name>', 'user name: 1–32 letters, digits, ".", "_" or "-"')
    .addOption(redisOption())
    .addOption(prefixOption())
    .option('--replace', 'give an existing user a new token (the old one stops working)')
    .action(async (name: string, o: { redis?: string; prefix: string; replace?: boolean }) => ran(await withUsers(o, async (u) => {
      checkName(name);
      const token = await u.add(name, { replace: o.replace === true });
      process.stderr.write(`${o.replace ? 'new token for' : 'added'} user ${name}; their token (shown only now):\n`);
      process.stdout.write(`${token}\n`);
    }))));
  user.addCommand(new Command('list')
    .description('list users (name, created, token id; never tokens)')
    .addOption(redisOption())
    .addOption(prefixOption())
    .action(async (o: { redis?: string; prefix: string }) => ran(await withUsers(o, async (u) => {
      const list = await u.list();
      if (list.length === 0) process.stderr.write('no users yet: npx ipa-bridge team user add NAME\n');
      for (const r of list) process.stdout.write(`${r.name}\tcreated ${new Date(r.created).toISOString()}\ttoken ${r.tokenId}…\n`);
    }))));
  user.addCommand(new Command('remove')
    .description('remove a user; their token stops working within 10 s')
    .argument('<name>', 'user name')
    .addOption(redisOption())
    .addOption(prefixOption())
    .action(async (name: string, o: { redis?: string; prefix: string }) => ran(await withUsers(o, async (u) => {
      if (!(await u.remove(name))) throw new UserError(`no user "${name}" (see: team user list)`);
      process.stderr.write(`removed user ${name}\n`);
    }))));
  team.addCommand(user);

  team.addCommand(new Command('fingerprint')
    .description("print the SHA-256 fingerprint of the front's certificate (plugins pin it on first connect)")
    .addOption(dataOption())
    .option('--tls-cert <file>', 'the certificate given to serve with --tls-cert')
    .action((o: { data?: string; tlsCert?: string }) => ran(runFingerprint(o))));
  return team;
}

function checkName(name: string): void {
  try {
    checkUserName(name);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function runFingerprint(o: { data?: string; tlsCert?: string }): number {
  const file = o.tlsCert ?? selfSignedPaths(dataDir(o.data)).cert;
  if (!existsSync(file)) {
    throw new UsageError(o.tlsCert ? `--tls-cert ${file} does not exist` : `no generated certificate in ${dataDir(o.data)} yet: start "team serve" once (with the same --data), or pass --tls-cert`);
  }
  let fp: string;
  try {
    fp = fingerprintOf(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file} is not a PEM certificate: ${(e as Error).message}`);
  }
  process.stdout.write(`${fp}\n`);
  return 0;
}

/** A short-lived Redis connection for the user commands; a clear error when Redis cannot be reached. */
async function withUsers(o: { redis?: string; prefix: string }, f: (u: UserStore) => Promise<void>): Promise<number> {
  const url = needRedis(o.redis);
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: (n) => (n > 3 ? null : 200) });
  let lastError = '';
  redis.on('error', (e: Error) => void (lastError = e.message)); // the connect error says only "closed"
  try {
    await redis.connect();
  } catch (e) {
    redis.disconnect();
    throw new Error(`cannot reach Redis at ${redact(url)} (${lastError || (e as Error).message}): is redis-server running there?`);
  }
  try {
    await f(new UserStore(redis, teamKeys(o.prefix)));
    return 0;
  } catch (e) {
    if (e instanceof UserError) {
      process.stderr.write(`ipa-bridge: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    redis.disconnect();
  }
}

function sessionConfig(o: ServeFlags): DaemonConfig {
  return {
    ...DEFAULTS,
    token: '', // per-user tokens instead (front.ts)
    port: o.port,
    hosts: [o.host],
    verbose: o.verbose === true,
    maxPixels: o.maxPixels,
    maxConnections: o.maxConnections,
    jobRate: o.jobRate,
    jobBurst: o.jobBurst,
    maxJobsPerConnection: o.maxJobsPerUser,
    maxQueue: o.maxQueue,
    pingIntervalMs: o.pingInterval,
    resultTtlMs: o.resultTtl,
  };
}

async function runServe(o: ServeFlags): Promise<number> {
  const redisUrl = needRedis(o.redis);
  const log = createLogger(o.verbose === true);
  if (!o.tls && (o.tlsCert || o.tlsKey)) throw new UsageError('--no-tls and --tls-cert/--tls-key contradict each other');
  if (!o.tls && !isLoopback(o.host)) log.warn(`--no-tls on ${o.host}: tokens and images cross the network unencrypted; use it only behind a TLS proxy`);
  if (o.advertise) {
    try {
      const u = new URL(o.advertise);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    } catch {
      throw new UsageError(`--advertise ${o.advertise} must be an http(s):// URL (how workers reach this front)`);
    }
  }
  const data = dataDir(o.data);
  let tls;
  try {
    tls = o.tls ? await loadTls({ certFile: o.tlsCert, keyFile: o.tlsKey, dataDir: data, names: o.tlsName }) : null;
  } catch (e) {
    if (e instanceof TeamConfigError) throw new UsageError(e.message);
    throw e;
  }
  if (tls) log.info(`TLS certificate ${tls.source}, fingerprint ${tls.fingerprint}${tls.selfSigned ? ' (self-signed: plugins pin it on first connect; "team fingerprint" prints it)' : ''}`);
  let front: TeamFrontHandle;
  try {
    front = await startTeamFront({
      redisUrl, prefix: o.prefix, keys: teamKeys(o.prefix), config: sessionConfig(o), host: o.host, advertiseUrl: o.advertise,
      tls, dataDir: data, log, allowedOrigins: o.allowOrigin, maxJobsPerUser: o.maxJobsPerUser, resultTtlMs: o.resultTtl, attempts: o.attempts,
    });
  } catch (e) {
    log.error((e as Error).message);
    return 1;
  }
  process.stdout.write(`listening port=${front.port} url=${front.url}${front.fingerprint ? ` fingerprint=${front.fingerprint}` : ''}\n`);
  log.info(`studio server ready on ${front.url} (Redis ${redact(redisUrl)}, data ${data})`);
  return untilSignal(log, 'front', (again) => (again ? Promise.resolve() : front.close()));
}

async function runWorker(o: WorkerFlags): Promise<number> {
  const redisUrl = needRedis(o.redis);
  const log = createLogger(o.verbose === true);
  // The engine process inherits this: its device 0 is the GPU asked for.
  if (o.device !== undefined) process.env.CUDA_VISIBLE_DEVICES = String(o.device);
  if (o.stalledInterval > o.lockDuration) log.warn(`--stalled-interval ${o.stalledInterval} is longer than --lock-duration ${o.lockDuration}: a dead worker's job waits up to the interval`);
  const { engine, error } = await createEngineFor(o.engine, o.models, providerFrom(o), log);
  if (!engine) {
    log.error(`no engine, so this worker takes no jobs: ${error}`);
    return 1;
  }
  let handle: TeamWorkerHandle;
  try {
    handle = await startTeamWorker({
      redisUrl, prefix: o.prefix, keys: teamKeys(o.prefix), engine, log, maxPixels: o.maxPixels,
      lockDurationMs: o.lockDuration, stalledIntervalMs: o.stalledInterval, maxStalledCount: o.maxStalled, frontPatienceMs: o.frontPatience,
      uploadWaitMs: o.uploadWait, spoolDir: o.spool ?? join(tmpdir(), `ipa-bridge-spool-${o.prefix}`),
    });
  } catch (e) {
    log.error((e as Error).message);
    await engine.dispose();
    return 1;
  }
  process.stdout.write(`worker ready id=${handle.id}\n`);
  return untilSignal(log, 'worker', async (again) => {
    await handle.close(again);
    await engine.dispose();
  });
}

/** Runs until SIGINT/SIGTERM; a second signal stops at once. */
function untilSignal(log: Logger, what: string, stop: (again: boolean) => Promise<void>): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: string): void => {
      if (stopping) {
        log.warn(`${signal} again: exiting now`);
        void stop(true).finally(() => process.exit(1));
        return;
      }
      stopping = true;
      log.info(`${signal}: stopping the ${what}${what === 'worker' ? ' (after the running job)' : ' (jobs go on on the workers)'}`);
      stop(false).then(() => resolve(0), (e: unknown) => {
        log.error('shutdown failed', e);
        resolve(1);
      });
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
  });
}
