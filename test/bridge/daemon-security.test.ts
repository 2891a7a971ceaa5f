/**
 * A real daemon process and real `ws` clients: who gets in (token 401, Origin 403, connection cap 503),
 * message size (1009), version mismatch, and 1,000 malformed messages that must not kill it or leak.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrame, FRAME_FIXED_HEADER, PROTOCOL_VERSION, type ErrorMessage } from '../../shared/protocol/index.ts';
import { connect, createServer } from 'node:net';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { TestClient, upgradeStatus } from '../helpers/ws-client.ts';

let d: TestDaemon;

before(async () => {
  d = await startTestDaemon({ args: ['--max-payload', '65536', '--max-connections', '4', '--job-burst', '1000', '--ping-interval', '400'] });
});

after(async () => {
  const { code } = await d.stop('SIGTERM');
  assert.equal(code, 0, `daemon exit code\n${d.log()}`);
});

test('no token or a wrong token: 401 at the upgrade, no WebSocket', async () => {
  const none = await upgradeStatus(d.port, '/');
  assert.equal(none.status, 401);
  assert.match(none.body, /token/);
  assert.equal((await upgradeStatus(d.port, '/?token=nope')).status, 401);
  assert.equal((await upgradeStatus(d.port, `/?token=${d.token}x`)).status, 401);
  await assert.rejects(TestClient.open(d.url('wrong')), /HTTP 401/);
  assert.equal((await upgradeStatus(d.port, `/?token=${d.token}`)).status, 101);
});

test('web origins: 403; no Origin and "null" (Figma) are accepted', async () => {
  for (const origin of ['https://evil.example', 'http://localhost:3000', 'http://127.0.0.1', 'not a url']) {
    assert.equal((await upgradeStatus(d.port, `/?token=${d.token}`, { Origin: origin })).status, 403, origin);
  }
  assert.equal((await upgradeStatus(d.port, `/?token=${d.token}`, { Origin: 'null' })).status, 101);
  const figma = await TestClient.open(d.url(), { origin: 'null' });
  figma.close();
});

/** Whether this machine has an IPv6 loopback at all (asked of the OS, not of the daemon). */
function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}

test('loopback only, on IPv4 and IPv6', async (t) => {
  assert.match(d.log(), /ready on ws:\/\/127\.0\.0\.1:/);
  if (!(await hasIpv6Loopback())) return t.skip('this machine has no IPv6 loopback');
  // With ::1 present, the daemon must answer there: a refused connection fails the test.
  assert.equal((await upgradeStatus(d.port, `/?token=${d.token}`, {}, '::1')).status, 101);
});

test('plain HTTP gets 426 and nothing else', async () => {
  const res = await fetch(`http://127.0.0.1:${d.port}/?token=${d.token}`);
  assert.equal(res.status, 426);
});

test('a message over --max-payload closes the connection with 1009', async () => {
  const { c, welcome } = await TestClient.connect(d.url());
  assert.equal(welcome.capabilities.maxPayload, 65536);
  c.sendBinary(new Uint8Array(70_000));
  const closed = await c.closed;
  assert.equal(closed.code, 1009);
});

test('a client that stops answering pings is dropped', async () => {
  // A raw socket that completes the upgrade and then ignores everything (no pong, no hello).
  const sock = connect(d.port, '127.0.0.1');
  sock.write(`GET /?token=${d.token} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
  sock.on('data', () => undefined);
  const t0 = Date.now();
  await new Promise((resolve) => sock.once('close', resolve));
  assert.ok(Date.now() - t0 < 3000, `dropped after ${Date.now() - t0} ms`);
  // A live ws client answers pings automatically and stays.
  const { c } = await TestClient.connect(d.url());
  await new Promise((r) => setTimeout(r, 700));
  c.send({ type: 'ping', nonce: 1 });
  await c.expect('pong');
  c.close();
});

test('protocol version mismatch: a clear error naming what to update, then close 4001', async () => {
  const c = await TestClient.open(d.url());
  c.send({ type: 'hello', protocol: PROTOCOL_VERSION + 1, client: { name: 'future-plugin' } });
  const e = (await c.expect('error')) as ErrorMessage;
  assert.equal(e.code, 'version-mismatch');
  assert.equal(e.serverProtocol, PROTOCOL_VERSION);
  assert.match(e.message, /update the bridge/);
  assert.equal((await c.closed).code, 4001);

  const old = await TestClient.open(d.url());
  old.send({ type: 'hello', protocol: 0 });
  assert.match((await old.expect('error')).message, /update the plugin/);
  await old.closed;
});

test('connections over --max-connections get 503', async () => {
  await new Promise((r) => setTimeout(r, 300)); // let the server see the earlier tests' sockets close
  const open = await Promise.all([1, 2, 3, 4].map(() => TestClient.open(d.url())));
  assert.equal((await upgradeStatus(d.port, `/?token=${d.token}`)).status, 503);
  for (const c of open) c.close();
  await Promise.all(open.map((c) => c.closed));
  await new Promise((r) => setTimeout(r, 50));
  const again = await TestClient.open(d.url());
  again.close();
});

/** 1,000 malformed messages of every kind; each gets an error reply, none gets the daemon down. */
function malformed(i: number): string | Uint8Array {
  const frame = encodeFrame({ role: 'init', format: 'raw-rgba8', jobId: 'ghost', index: 0, width: 2, height: 2, premultiplied: false }, new Uint8Array(16));
  switch (i % 12) {
    case 0: return '{"type":"job", "jobId": "x", "prompt": ';
    case 1: return 'not json at all \u0000\uffff';
    case 2: return JSON.stringify({ type: `nope-${i}` });
    case 3: return JSON.stringify({ type: 'job', jobId: `m${i}`, prompt: 42 });
    case 4: return JSON.stringify({ type: 'job', jobId: `m${i}`, prompt: 'p', steps: 'many', width: { deep: [1, 2, 3] } });
    case 5: return JSON.stringify({ type: 'job', jobId: `m${i}`, prompt: 'p', references: [{ source: 'frame', scale: Infinity }] });
    case 6: return frame.subarray(0, (i % FRAME_FIXED_HEADER) + 1); // truncated header
    case 7: return new Uint8Array(200).fill(i & 0xff); // no magic
    case 8: return frame; // a frame for a job nobody declared
    case 9: return JSON.stringify([1, 2, 3]);
    case 10: return JSON.stringify({ type: 'cancel', jobId: 'never-existed' });
    default: return JSON.stringify({ type: 'job', jobId: 'bad id with spaces', prompt: 'p' });
  }
}

test('1,000 malformed messages: every one answered, the daemon survives and does not grow', async () => {
  // Binary and JSON before hello are refused too.
  const early = await TestClient.open(d.url());
  early.sendBinary(new Uint8Array(100));
  early.send({ type: 'job', jobId: 'early', prompt: 'x' });
  assert.equal((await early.expect('error')).code, 'hello-required');
  assert.equal((await early.expect('error')).code, 'hello-required');
  early.close();

  const { c } = await TestClient.connect(d.url());
  const round = async (): Promise<void> => {
    for (let i = 0; i < 1000; i++) {
      const m = malformed(i);
      if (typeof m === 'string') c.send(m);
      else c.sendBinary(m);
    }
    c.send({ type: 'ping', nonce: 'after' });
    await c.json((m) => m.type === 'pong' && m.nonce === 'after', 20_000);
  };
  await round();
  const errors = c.inbox.filter((r) => r.kind === 'json' && r.msg.type === 'error');
  assert.equal(errors.length, 1000, 'one error per malformed message');
  const codes = new Set<string>(errors.map((r) => (r.kind === 'json' && r.msg.type === 'error' ? r.msg.code : '')));
  for (const code of ['bad-json', 'bad-message', 'invalid-field', 'bad-frame', 'unexpected-frame', 'unknown-job']) assert.ok(codes.has(code), `saw ${code}: ${[...codes]}`);
  c.inbox.length = 0;
  const rss1 = d.rssKb();
  for (let r = 0; r < 3; r++) {
    await round();
    c.inbox.length = 0;
  }
  const rss2 = d.rssKb();
  assert.ok(rss1 !== null && rss2 !== null, 'the daemon\'s RSS could not be read: the leak check cannot run');
  assert.ok(rss2 - rss1 < 40 * 1024, `RSS grew ${rss1} → ${rss2} KiB over 3,000 more malformed messages`);

  // Still fully usable: a real job on the same connection.
  c.send({ type: 'job', jobId: 'after-garbage', prompt: 'ok', steps: 2, width: 64, height: 64 });
  assert.equal((await c.expect('result', 'after-garbage')).images.length, 1);
  c.close();
  assert.equal(d.proc.exitCode, null, 'daemon alive');
});
