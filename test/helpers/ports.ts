/** Loopback ports for connection states: nothing listening, or a listener that never answers. */
import { createServer, type AddressInfo } from 'node:net';

/** A loopback port nothing listens on (bound, then closed): for "no daemon / server unreachable" cases. */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * Runs `fn` with a port that accepts TCP and never answers the WebSocket upgrade, which holds a client
 * in its "connecting" state for as long as `fn` needs; the listener is closed afterwards.
 */
export async function withSilentPort<T>(fn: (port: number) => Promise<T>): Promise<T> {
  const s = createServer(() => undefined);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  try {
    return await fn((s.address() as AddressInfo).port);
  } finally {
    s.close();
  }
}
