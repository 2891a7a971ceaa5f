/**
 * The comparison servers of bench/transport.ts, run as their own process (like the daemon, so client
 * and server do not share one event loop):
 *   echo    a bare `ws` server that sends every binary message straight back (the ceiling);
 *   base64  what existing Photoshop plugins do: a JSON text message with the image as base64; the server
 *           parses it, decodes the base64 to bytes, and answers a same-size result as base64 in JSON.
 * Prints `port=N` on stdout when listening.
 *
 *   node --import tsx bench/lib/servers.ts echo|base64
 */
import { WebSocketServer } from 'ws';

const kind = process.argv[2];
if (kind !== 'echo' && kind !== 'base64') {
  process.stderr.write('usage: servers.ts echo|base64\n');
  process.exit(2);
}

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 1024 * 1024 * 1024, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data: Buffer, isBinary) => {
    if (kind === 'echo') {
      ws.send(data, { binary: isBinary });
      return;
    }
    const m = JSON.parse(data.toString('utf8')) as { jobId: string; width: number; height: number; image: string };
    const pixels = Buffer.from(m.image, 'base64');
    if (pixels.length !== m.width * m.height * 4) throw new Error('bad image size');
    // The "result": the same number of bytes back, encoded the same way.
    ws.send(JSON.stringify({ type: 'result', jobId: m.jobId, width: m.width, height: m.height, image: pixels.toString('base64') }));
  });
});
wss.on('listening', () => {
  const a = wss.address();
  process.stdout.write(`port=${typeof a === 'object' && a ? a.port : 0}\n`);
});
process.on('SIGTERM', () => process.exit(0));
