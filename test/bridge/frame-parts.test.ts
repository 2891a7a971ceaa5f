/**
 * Frames received as WebSocket fragments (header fragment + payload fragment, as the daemon and
 * BridgeClient send them over `ws`): decoded without joining, and any other split still decodes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketServer } from 'ws';
import WebSocket from 'ws';
import { decodeFrameParts, encodeFrame, encodeFrameHeader, FrameError, type FrameHeader } from '../../shared/protocol/frame.ts';

const header: FrameHeader = { role: 'init', format: 'raw-rgba8', jobId: 'job-1', index: 0, width: 4, height: 2, premultiplied: false };
const payload = Uint8Array.from({ length: 32 }, (_, i) => i * 3);

test('header and payload fragments decode without a copy of the payload', () => {
  const f = decodeFrameParts([encodeFrameHeader(header), payload]);
  assert.deepEqual({ ...f.header }, header);
  assert.equal(f.payload, payload, 'the payload fragment itself');
});

test('one part, and other splits (inside the header, inside the payload, many parts), decode alike', () => {
  const whole = encodeFrame(header, payload);
  const want = decodeFrameParts([whole]);
  for (const cuts of [[10], [30], [whole.length - 5], [3, 40, 70], [61, 62]]) {
    const parts: Uint8Array[] = [];
    let at = 0;
    for (const c of [...cuts, whole.length]) {
      parts.push(whole.slice(at, c));
      at = c;
    }
    const f = decodeFrameParts(parts);
    assert.deepEqual(f.header, want.header, `cuts ${cuts}`);
    assert.deepEqual([...f.payload], [...payload], `cuts ${cuts}`);
  }
});

test('a payload fragment of the wrong size or a foreign header is refused', () => {
  assert.throws(() => decodeFrameParts([encodeFrameHeader(header), payload.subarray(1)]), FrameError);
  assert.throws(() => decodeFrameParts([new Uint8Array(60), payload]), /IPAB/);
  assert.throws(() => decodeFrameParts([new Uint8Array(10), new Uint8Array(10)]), FrameError);
});

test('over a real ws connection: two fragments arrive as two parts, decoded to the same bytes', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  const port = (wss.address() as { port: number }).port;
  const got = new Promise<Buffer[]>((resolve) => wss.once('connection', (s) => {
    s.binaryType = 'fragments';
    s.once('message', (data) => resolve(data as Buffer[]));
  }));
  const c = new WebSocket(`ws://127.0.0.1:${port}/`);
  await new Promise((r) => c.once('open', r));
  const big = new Uint8Array(4 * 512 * 512).map((_, i) => i & 0xff);
  const h = { ...header, width: 512, height: 512 };
  c.send(encodeFrameHeader(h), { binary: true, fin: false });
  c.send(big, { binary: true, fin: true });
  const parts = await got;
  assert.equal(parts.length, 2);
  const f = decodeFrameParts(parts);
  assert.equal(f.payload, parts[1]);
  assert.ok(Buffer.from(f.payload).equals(Buffer.from(big)));
  c.close();
  wss.close();
});
