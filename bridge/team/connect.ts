/**
 * A Node client of a studio server (tests, bench, scripts): wss:// with the front's certificate pinned by
 * fingerprint (checked before the token is sent: see pin.ts), or ws:// for a front run with --no-tls.
 * The protocol side is the shared BridgeClient, as for the local daemon.
 */
import WebSocket from 'ws';
import { BridgeClient } from '../../shared/protocol/client.ts';
import { BRIDGE_VERSION } from '../version.ts';
import { waitForOpen } from '../ws-open.ts';
import { pinnedTls } from './pin.ts';
import { normalizeFingerprint } from './tls.ts';

export interface TeamConnectOptions {
  /** ws://host:port/ or wss://host:port/ (no token). */
  url: string;
  token: string;
  /** Pinned SHA-256 fingerprint of the front's certificate (wss only). Without it the system's CAs decide. */
  fingerprint?: string;
  clientName?: string;
  clientId?: string;
  timeoutMs?: number;
}

export async function connectTeam(o: TeamConnectOptions): Promise<BridgeClient> {
  const u = new URL(o.url);
  u.searchParams.set('token', o.token);
  const secure = u.protocol === 'wss:';
  const port = Number(u.port || (secure ? 443 : 80));
  // Pinning first: a mismatch throws here, before the URL with the token goes anywhere.
  const socket = secure && o.fingerprint ? await pinnedTls(u.hostname, port, normalizeFingerprint(o.fingerprint), o.timeoutMs) : undefined;
  const ws = new WebSocket(u.toString(), {
    perMessageDeflate: false,
    maxPayload: 256 * 1024 * 1024,
    ...(socket ? { createConnection: () => socket } : {}),
  });
  const timeoutMs = o.timeoutMs ?? 10_000;
  await waitForOpen(ws, {
    timeoutMs,
    timedOut: () => new Error(`no answer from ${u.host} within ${timeoutMs} ms`),
    refused: (status) => new Error(status === 401 ? 'the studio server refused the token (401)' : `the studio server answered HTTP ${status}`),
    failed: (e) => e,
  });
  const client = new BridgeClient(ws, { name: o.clientName ?? 'ipa-bridge-node', version: BRIDGE_VERSION, ...(o.clientId ? { id: o.clientId } : {}) });
  await client.ready;
  return client;
}
