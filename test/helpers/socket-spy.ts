/**
 * Watching what a plugin's connection puts on the wire, on real `ws` sockets: the tests count job
 * messages and binary frames (what went by hash and what was sent again), read the frames' headers, and
 * see what the daemon accepted.
 */
import WebSocket from 'ws';
import type { SocketLike } from '../../shared/protocol/client.ts';
import { decodeFrame, type FrameRole } from '../../shared/protocol/frame.ts';
import type { AcceptedMessage, JobMessage } from '../../shared/protocol/messages.ts';

/**
 * Calls `watch` with everything `ws` sends, before it goes. `watch` returning true swallows it, to play a
 * message lost on the way.
 */
export function interceptSend(ws: WebSocket, watch: (data: unknown) => boolean | void): void {
  const send = ws.send.bind(ws);
  ws.send = ((data: unknown, ...rest: unknown[]) => {
    if (watch(data) === true) return;
    (send as (...a: unknown[]) => void)(data, ...rest);
  }) as typeof ws.send;
}

export interface SentFrame {
  role: FrameRole;
  index: number;
  width: number;
  height: number;
  payload: Uint8Array;
}

export interface Wire {
  /** Job messages sent. */
  jobs: JobMessage[];
  /** `accepted` messages received. */
  accepted: AcceptedMessage[];
  /** Binary frames sent, decoded. */
  frames: SentFrame[];
}

export const emptyWire = (): Wire => ({ jobs: [], accepted: [], frames: [] });

/** Opens a socket to `url` that records into `wire` what goes over it, both ways, without changing either. */
export function spySocket(url: string, wire: Wire): WebSocket & SocketLike {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  interceptSend(ws, (data) => {
    if (typeof data === 'string') {
      const m = JSON.parse(data) as { type: string };
      if (m.type === 'job') wire.jobs.push(m as JobMessage);
    } else {
      const f = decodeFrame(data instanceof Uint8Array ? data : new Uint8Array(data as ArrayBuffer));
      wire.frames.push({ role: f.header.role, index: f.header.index, width: f.header.width, height: f.header.height, payload: f.payload.slice() });
    }
  });
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const m = JSON.parse(String(data)) as { type: string };
    if (m.type === 'accepted') wire.accepted.push(m as AcceptedMessage);
  });
  return ws as WebSocket & SocketLike;
}
