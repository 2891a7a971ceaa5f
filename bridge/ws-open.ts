/**
 * Waits for a Node WebSocket to open, within a deadline. The daemon client (connect.ts) and the studio
 * client (team/connect.ts) wait the same way and differ only in how they word each failure.
 */
import type WebSocket from 'ws';

export interface OpenFailures {
  timeoutMs: number;
  /** No open within timeoutMs; the socket is terminated first. */
  timedOut: () => Error;
  /** The server answered HTTP instead of upgrading; the socket is terminated first. */
  refused: (status: number | undefined) => Error;
  /** The connection itself failed (refused, unreachable, TLS). */
  failed: (e: NodeJS.ErrnoException) => Error;
}

export function waitForOpen(ws: WebSocket, failures: OpenFailures): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(failures.timedOut());
    }, failures.timeoutMs);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve();
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      res.resume();
      ws.terminate();
      reject(failures.refused(res.statusCode));
    });
    ws.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(failures.failed(e));
    });
  });
}
