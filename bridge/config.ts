/** Daemon settings, the user config folder and the pairing token. */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_PORT } from '../shared/protocol/constants.ts';
import { DEFAULT_MAX_BATCH, DEFAULT_MAX_INPUT_PIXELS, DEFAULT_MAX_PAYLOAD, DEFAULT_MAX_PIXELS } from '../shared/protocol/limits.ts';
import type { ProviderChoice } from '../engine/runtime/providers.ts';

/** What the user asked for (`--provider`, default auto); the engine resolves `auto` to one it can run. */
export type Provider = ProviderChoice;

export interface DaemonConfig {
  port: number;
  /** Interfaces to listen on; loopback unless --host with --allow-remote. */
  hosts: string[];
  token: string;
  modelsDir?: string;
  provider: Provider;
  verbose: boolean;
  maxPayload: number;
  maxConnections: number;
  maxPixels: number;
  maxInputPixels: number;
  maxBatch: number;
  /** Job submissions per connection: a token bucket of `jobBurst` refilled at `jobRate` per second. */
  jobRate: number;
  jobBurst: number;
  /** Jobs one connection may have queued or running at once, and in the whole queue. */
  maxJobsPerConnection: number;
  maxQueue: number;
  /** WebSocket ping interval; a client that missed the previous pong is dropped. */
  pingIntervalMs: number;
  helloTimeoutMs: number;
  /** How long a job's input frames may take to arrive after its message. */
  frameTimeoutMs: number;
  /** Queued jobs of a client that disconnected are cancelled after this unless it resumes them. */
  disconnectGraceMs: number;
  resultTtlMs: number;
  resultCacheBytes: number;
  blobCacheBytes: number;
}

export const DEFAULTS: Omit<DaemonConfig, 'token'> = {
  port: DEFAULT_PORT,
  hosts: ['127.0.0.1', '::1'],
  provider: 'auto',
  verbose: false,
  maxPayload: DEFAULT_MAX_PAYLOAD,
  maxConnections: 16,
  maxPixels: DEFAULT_MAX_PIXELS,
  maxInputPixels: DEFAULT_MAX_INPUT_PIXELS,
  maxBatch: DEFAULT_MAX_BATCH,
  jobRate: 2,
  jobBurst: 10,
  maxJobsPerConnection: 16,
  maxQueue: 128,
  pingIntervalMs: 30_000,
  helloTimeoutMs: 10_000,
  frameTimeoutMs: 60_000,
  disconnectGraceMs: 60_000,
  resultTtlMs: 15 * 60_000,
  resultCacheBytes: 1024 * 1024 * 1024,
  blobCacheBytes: 512 * 1024 * 1024,
};

/** $IPA_BRIDGE_CONFIG_DIR, else the platform's user config folder + /ipa-bridge. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.IPA_BRIDGE_CONFIG_DIR) return env.IPA_BRIDGE_CONFIG_DIR;
  if (process.platform === 'win32') return join(env.APPDATA || join(homedir(), 'AppData', 'Roaming'), 'ipa-bridge');
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'ipa-bridge');
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'ipa-bridge');
}

export function tokenPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), 'token');
}

export interface TokenInfo {
  token: string;
  /** 'env' when IPA_BRIDGE_TOKEN set it, else the file it was read from or written to. */
  source: string;
  created: boolean;
  /** Set when the file had looser permissions and was tightened. */
  fixedPermissions?: boolean;
}

/** The pairing token: $IPA_BRIDGE_TOKEN, or the stored one, or a new one written with mode 0600. */
export function loadOrCreateToken(env: NodeJS.ProcessEnv = process.env): TokenInfo {
  if (env.IPA_BRIDGE_TOKEN) return { token: env.IPA_BRIDGE_TOKEN, source: 'env', created: false };
  const file = tokenPath(env);
  const existing = readTokenFile(file);
  if (existing) {
    let fixedPermissions = false;
    if (process.platform !== 'win32' && (statSync(file).mode & 0o077) !== 0) {
      chmodSync(file, 0o600); // someone loosened it: the token is a password
      fixedPermissions = true;
    }
    return { token: existing, source: file, created: false, fixedPermissions };
  }
  mkdirSync(configDir(env), { recursive: true, mode: 0o700 });
  const token = randomBytes(24).toString('base64url');
  // 'wx' fails if another process created it meanwhile; then use theirs.
  try {
    writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const raced = readTokenFile(file);
    if (raced) return { token: raced, source: file, created: false };
    writeFileSync(file, `${token}\n`, { mode: 0o600 }); // an empty or truncated token file: replace it
    chmodSync(file, 0o600);
  }
  return { token, source: file, created: true };
}

function readTokenFile(file: string): string | null {
  try {
    const t = readFileSync(file, 'utf8').trim();
    return t.length >= 16 ? t : null;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Loopback addresses need no --allow-remote. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
