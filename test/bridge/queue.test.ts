import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FairQueue } from '../../bridge/queue.ts';
import { ByteLru } from '../../bridge/lru.ts';
import { checkOrigin, checkUpgrade, tokenMatches } from '../../bridge/auth.ts';

const job = (id: string) => ({ id, owner: id[0] });

test('fair queue: least recently served client first, FIFO within a client', () => {
  const q = new FairQueue<{ id: string; owner: string }>();
  for (const id of ['a1', 'a2', 'a3']) q.push(job(id));
  assert.equal(q.shift()?.id, 'a1');
  q.push(job('b1'));
  q.push(job('c1'));
  assert.deepEqual(q.order().map((j) => j.id), ['b1', 'c1', 'a2', 'a3']);
  assert.equal(q.position('a2'), 2);
  assert.equal(q.shift()?.id, 'b1');
  q.push(job('b2'));
  assert.deepEqual(q.order().map((j) => j.id), ['c1', 'a2', 'b2', 'a3']);
  assert.equal(q.remove('a2')?.id, 'a2');
  assert.deepEqual(q.order().map((j) => j.id), ['c1', 'a3', 'b2']);
  assert.equal(q.position('zz'), -1);
});

test('byte-capped LRU evicts least recently used, honours TTL, refuses oversize values', () => {
  let now = 0;
  const evicted: string[] = [];
  const lru = new ByteLru<number>({ maxBytes: 10, ttlMs: 100, sizeOf: (v) => v, now: () => now, onEvict: (k) => evicted.push(k) });
  lru.set('a', 4);
  lru.set('b', 4);
  assert.equal(lru.get('a'), 4); // a is now most recent
  lru.set('c', 4);
  assert.deepEqual(evicted, ['b']);
  assert.equal(lru.bytes, 8);
  assert.equal(lru.set('huge', 11), false);
  now = 150;
  assert.equal(lru.get('a'), undefined);
  assert.equal(lru.has('c'), false);
  assert.equal(lru.bytes, 0);
});

test('upgrade checks: origins and tokens', () => {
  assert.ok(checkOrigin(undefined).ok);
  assert.ok(checkOrigin('null').ok);
  assert.ok(checkOrigin('uxp://photoshop').ok, 'non-web schemes are not web pages');
  for (const o of ['https://figma.com', 'http://localhost:8080', 'wss://x', 'garbage']) assert.equal(checkOrigin(o).ok, false, o);
  assert.ok(checkOrigin('https://trusted.example', ['https://trusted.example']).ok);
  assert.ok(tokenMatches('abc', 'abc'));
  assert.ok(!tokenMatches('abd', 'abc') && !tokenMatches(null, 'abc') && !tokenMatches('', 'abc'));
  assert.deepEqual(checkUpgrade({ url: '/?token=t0k', origin: undefined }, 't0k'), { ok: true });
  const v = checkUpgrade({ url: '/?x=1', origin: undefined }, 't0k');
  assert.ok(!v.ok && v.status === 401);
  const w = checkUpgrade({ url: '/?token=t0k', origin: 'https://a.b' }, 't0k');
  assert.ok(!w.ok && w.status === 403);
});
