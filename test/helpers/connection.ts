/** The plugins' shared connection (shared/plugin/connection.ts) as the tests run it against a real daemon. */
import type { SocketLike } from '../../shared/protocol/client.ts';
import { BridgeConnection } from '../../shared/plugin/connection.ts';
import type { TestDaemon } from './daemon.ts';

export interface TestConnectionOptions {
  /** The client name sent in the hello (tells the tests' sessions apart in the daemon's log). */
  client: string;
  openSocket(url: string): SocketLike;
  /** What the HTTP probe answers; the plugins' own probe is not what these tests are about. */
  probe: boolean;
  /** Reconnect back-off; jitter is always 0 so reconnect timing is predictable. */
  backoff: { baseMs: number; capMs: number };
}

/** A connection on real timers, `Math.random` and `Date.now`. */
export function testConnection(o: TestConnectionOptions): BridgeConnection {
  return new BridgeConnection({
    openSocket: o.openSocket,
    probe: async () => o.probe,
    setTimer: (fn, ms) => setTimeout(fn, ms),
    clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
    random: Math.random,
    now: Date.now,
    client: { name: o.client, version: '0' },
    backoff: { ...o.backoff, jitter: 0 },
  });
}

/** Points `conn` at the daemon (or at `port`, to play a wrong one) and waits for the handshake. */
export async function connectTo(conn: BridgeConnection, daemon: TestDaemon, port = daemon.port): Promise<void> {
  conn.configure({ token: daemon.token, port, host: '127.0.0.1' });
  await conn.whenConnected();
}
