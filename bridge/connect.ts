/**
 * Opens a protocol client to a running daemon from Node (the CLI's `generate`, `selftest`), turning
 * refusals into messages a user can act on.
 */
import WebSocket from 'ws';
import { BridgeClient } from '../shared/protocol/client.ts';
import { PROTOCOL_VERSION } from '../shared/protocol/constants.ts';
import { BRIDGE_VERSION } from './version.ts';
import { waitForOpen } from './ws-open.ts';

export interface ConnectOptions {
  host: string;
  port: number;
  token: string;
  clientName?: string;
  /** Sent as the Origin header (tests of the Origin check). */
  origin?: string;
  maxPayload?: number;
  timeoutMs?: number;
}

export class ConnectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConnectError';
  }
}

export function bridgeUrl(host: string, port: number, token?: string): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return `ws://${h}:${port}/${token !== undefined ? `?token=${encodeURIComponent(token)}` : ''}`;
}

export async function connectBridge(o: ConnectOptions): Promise<BridgeClient> {
  const ws = new WebSocket(bridgeUrl(o.host, o.port, o.token), {
    maxPayload: o.maxPayload ?? 256 * 1024 * 1024,
    perMessageDeflate: false,
    ...(o.origin ? { origin: o.origin } : {}),
  });
  const timeoutMs = o.timeoutMs ?? 10_000;
  await waitForOpen(ws, {
    timeoutMs,
    timedOut: () => new ConnectError(`no answer from ${o.host}:${o.port} within ${timeoutMs} ms`),
    refused: (status = 0) => new ConnectError(
      status === 401 ? 'the daemon refused the token (401): run `npx ipa-bridge token` on the daemon machine and pass it with --token or IPA_BRIDGE_TOKEN'
        : status === 403 ? 'the daemon refused this Origin (403)'
          : status === 503 ? 'the daemon is busy or shutting down (503: too many connections?)'
            : `the daemon answered HTTP ${status} instead of a WebSocket`,
    ),
    failed: (e) => new ConnectError(e.code === 'ECONNREFUSED' ? `no daemon on ${o.host}:${o.port}: start one with \`npx ipa-bridge start\` (or use --local)` : `cannot connect to ${o.host}:${o.port}: ${e.message}`),
  });
  const client = new BridgeClient(ws, { name: o.clientName ?? 'ipa-bridge-cli', version: BRIDGE_VERSION });
  try {
    await client.ready;
  } catch (e) {
    ws.terminate();
    throw new ConnectError(`handshake failed: ${(e as Error).message} (this CLI speaks protocol ${PROTOCOL_VERSION})`);
  }
  return client;
}
