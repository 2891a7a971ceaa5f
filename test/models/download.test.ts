import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskSpaceError, DownloadInterruptedError, HashMismatchError, downloadFile } from '../../bridge/models/download.ts';
import { HashCache } from '../../bridge/models/hash-cache.ts';
import { HubError, offlineError } from '../../bridge/models/hub.ts';
import { sha256, startHub } from './hub-server.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'ipa-dl-'));
const big = randomBytes(300_000);
const small = Buffer.from('{"hello": "world"}\n');
const REPO = 'acme/models';
const files = [
  { repo: REPO, path: 'weights/model.safetensors', content: big },
  { repo: REPO, path: 'vocab.json', content: small, lfs: false },
];

test('downloads an LFS file through the hub redirect and verifies the hub sha256', async () => {
  const hub = await startHub({ files });
  try {
    const dest = join(tmp(), 'sub', 'model.safetensors');
    const seen: number[] = [];
    const r = await downloadFile({ repo: REPO, revision: 'main', path: 'weights/model.safetensors', dest }, { endpoint: hub.endpoint, onProgress: (p) => seen.push(p.received) });
    assert.deepEqual(readFileSync(dest), big);
    assert.equal(r.sha256, sha256(big));
    assert.equal(r.verifiedBy, 'hub-sha256');
    assert.equal(r.skipped, false);
    assert.ok(!existsSync(`${dest}.part`), 'no partial file left');
    assert.deepEqual(hub.requests.map((q) => `${q.server} ${q.method}`), ['hub GET', 'cdn GET'], 'redirect followed to the CDN');
    assert.equal(seen.at(-1), big.length);
  } finally {
    await hub.close();
  }
});

test('HF_TOKEN goes to the hub only, never to the CDN the redirect points at', async () => {
  const hub = await startHub({ files, requireToken: 'secret' });
  try {
    const dest = join(tmp(), 'm.safetensors');
    await downloadFile({ repo: REPO, revision: 'main', path: 'weights/model.safetensors', dest }, { endpoint: hub.endpoint, token: 'secret' });
    assert.equal(hub.requests[0].authorization, 'Bearer secret');
    assert.equal(hub.requests[1].server, 'cdn');
    assert.equal(hub.requests[1].authorization, undefined);
    await assert.rejects(
      downloadFile({ repo: REPO, revision: 'main', path: 'weights/model.safetensors', dest: join(tmp(), 'x') }, { endpoint: hub.endpoint, token: 'wrong' }),
      (e: Error) => e instanceof HubError && /gated.*HF_TOKEN/.test(e.message),
    );
  } finally {
    await hub.close();
  }
});

test('an interrupted transfer keeps the .part; the next run sends Range and completes', async () => {
  const hub = await startHub({ files, cutAfter: 100_000 });
  try {
    const dest = join(tmp(), 'model.safetensors');
    const req = { repo: REPO, revision: 'main', path: 'weights/model.safetensors', dest };
    await assert.rejects(downloadFile(req, { endpoint: hub.endpoint, retries: 0 }), (e: Error) => e instanceof DownloadInterruptedError && /run the command again to resume/.test(e.message));
    const partSize = statSync(`${dest}.part`).size;
    assert.ok(partSize > 0 && partSize <= 100_000, `partial file kept (${partSize} bytes)`);
    assert.ok(!existsSync(dest));
    const r = await downloadFile(req, { endpoint: hub.endpoint, retries: 0 });
    const cdnGets = hub.requests.filter((q) => q.server === 'cdn');
    assert.equal(cdnGets.length, 2);
    assert.equal(cdnGets[1].range, `bytes=${partSize}-`);
    assert.equal(r.resumedFrom, partSize);
    assert.deepEqual(readFileSync(dest), big);
    assert.ok(!existsSync(`${dest}.part`));
  } finally {
    await hub.close();
  }
});

test('a dropped connection is resumed automatically within one call', async () => {
  const hub = await startHub({ files, cutAfter: 50_000, cutTimes: 2 });
  try {
    const dest = join(tmp(), 'model.safetensors');
    await downloadFile({ repo: REPO, revision: 'main', path: 'weights/model.safetensors', dest }, { endpoint: hub.endpoint, retries: 3 });
    assert.deepEqual(readFileSync(dest), big);
    const ranges = hub.requests.filter((q) => q.server === 'cdn').map((q) => q.range);
    assert.equal(ranges.length, 3);
    assert.equal(ranges[0], undefined);
    assert.ok(ranges.slice(1).some((r) => /^bytes=[1-9]\d*-$/.test(r ?? '')), `a retry resumed with Range (${ranges.join(', ')})`);
  } finally {
    await hub.close();
  }
});

test('a server that ignores Range (200) restarts the file instead of appending', async () => {
  const hub = await startHub({ files, ignoreRange: true });
  try {
    const dest = join(tmp(), 'model.safetensors');
    writeFileSync(`${dest}.part`, big.subarray(0, 1234));
    const r = await downloadFile({ repo: REPO, revision: 'main', path: 'weights/model.safetensors', dest }, { endpoint: hub.endpoint });
    assert.equal(hub.requests.find((q) => q.server === 'cdn')?.range, 'bytes=1234-');
    assert.equal(r.resumedFrom, 0);
    assert.deepEqual(readFileSync(dest), big);
  } finally {
    await hub.close();
  }
});

test('a complete .part answered with 416 is verified and moved into place', async () => {
  const hub = await startHub({ files });
  try {
    const dest = join(tmp(), 'model.safetensors');
    writeFileSync(`${dest}.part`, big);
    const r = await downloadFile({ repo: REPO, revision: 'main', path: 'weights/model.safetensors', dest }, { endpoint: hub.endpoint });
    assert.equal(r.sha256, sha256(big));
    assert.deepEqual(readFileSync(dest), big);
  } finally {
    await hub.close();
  }
});

test('hash mismatch is rejected and the partial file removed', async () => {
  const lying = [{ repo: REPO, path: 'weights/model.safetensors', content: big, advertisedSha256: sha256(Buffer.from('something else')) }];
  const hub = await startHub({ files: lying });
  try {
    const dest = join(tmp(), 'model.safetensors');
    await assert.rejects(
      downloadFile({ repo: REPO, revision: 'main', path: 'weights/model.safetensors', dest }, { endpoint: hub.endpoint }),
      (e: Error) => e instanceof HashMismatchError && /partial download was removed/.test(e.message),
    );
    assert.ok(!existsSync(dest) && !existsSync(`${dest}.part`));
  } finally {
    await hub.close();
  }
});

test('a pinned sha256 is checked against the download (non-LFS file) and against the hub (LFS)', async () => {
  const hub = await startHub({ files });
  try {
    const dir = tmp();
    const wrong = 'a'.repeat(64);
    await assert.rejects(
      downloadFile({ repo: REPO, revision: 'main', path: 'vocab.json', dest: join(dir, 'vocab.json'), sha256: wrong }, { endpoint: hub.endpoint }),
      (e: Error) => e instanceof HashMismatchError && e.message.includes(wrong),
    );
    assert.ok(!existsSync(join(dir, 'vocab.json.part')) && !existsSync(join(dir, 'vocab.json')));
    const before = hub.requests.length;
    await assert.rejects(
      downloadFile({ repo: REPO, revision: 'main', path: 'weights/model.safetensors', dest: join(dir, 'm'), sha256: wrong }, { endpoint: hub.endpoint }),
      (e: Error) => e instanceof HashMismatchError && /changed upstream/.test(e.message),
    );
    assert.equal(hub.requests.slice(before).filter((q) => q.server === 'cdn').length, 0, 'nothing fetched from the CDN once the hub hash disagrees');
    const ok = await downloadFile({ repo: REPO, revision: 'main', path: 'weights/model.safetensors', dest: join(dir, 'm'), sha256: sha256(big) }, { endpoint: hub.endpoint });
    assert.equal(ok.verifiedBy, 'pinned');
  } finally {
    await hub.close();
  }
});

test('a small file is verified by its git blob sha1 ETag', async () => {
  const hub = await startHub({ files });
  try {
    const dest = join(tmp(), 'vocab.json');
    const r = await downloadFile({ repo: REPO, revision: 'main', path: 'vocab.json', dest }, { endpoint: hub.endpoint });
    assert.equal(r.verifiedBy, 'hub-git-sha1');
    assert.deepEqual(readFileSync(dest), small);
  } finally {
    await hub.close();
  }
});

test('an existing file with the right hash is kept without downloading; a cached hash is reused', async () => {
  const hub = await startHub({ files });
  try {
    const dir = tmp();
    const cache = new HashCache(join(dir, 'cache'));
    const dest = join(dir, 'model.safetensors');
    await downloadFile({ repo: REPO, revision: 'main', path: 'weights/model.safetensors', dest }, { endpoint: hub.endpoint, hashCache: cache });
    const n = hub.requests.length;
    const again = await downloadFile({ repo: REPO, revision: 'main', path: 'weights/model.safetensors', dest, sha256: sha256(big) }, { endpoint: hub.endpoint, hashCache: cache });
    assert.equal(again.skipped, true);
    assert.equal(hub.requests.length, n, 'pinned + present: no network at all');
    assert.equal(cache.hits, 1, 'the hash recorded at download time was reused');
  } finally {
    await hub.close();
  }
});

test('404 names the repo and file; an unknown repo says so', async () => {
  const hub = await startHub({ files });
  try {
    await assert.rejects(
      downloadFile({ repo: REPO, revision: 'main', path: 'nope.safetensors', dest: join(tmp(), 'n') }, { endpoint: hub.endpoint }),
      (e: Error) => e instanceof HubError && e.message.includes('nope.safetensors') && e.message.includes(REPO) && /not found/.test(e.message),
    );
    await assert.rejects(
      downloadFile({ repo: 'ghost/repo', revision: 'main', path: 'x.bin', dest: join(tmp(), 'n') }, { endpoint: hub.endpoint }),
      /repository ghost\/repo not found/,
    );
  } finally {
    await hub.close();
  }
});

test('offline: a refused connection says which host cannot be reached', async () => {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  await assert.rejects(
    downloadFile({ repo: REPO, revision: 'main', path: 'a', dest: join(tmp(), 'a') }, { endpoint: `http://127.0.0.1:${port}` }),
    (e: Error) => e instanceof HubError && e.message === `cannot reach 127.0.0.1:${port}; are you offline? (ECONNREFUSED)`,
  );
  const dns = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('getaddrinfo ENOTFOUND huggingface.co'), { code: 'ENOTFOUND' }) });
  assert.equal(offlineError(dns, 'https://huggingface.co/x')?.message, 'cannot reach huggingface.co; are you offline? (ENOTFOUND)');
});

test('short disk space is refused before writing', async () => {
  const hub = await startHub({ files });
  try {
    const dest = join(tmp(), 'model.safetensors');
    await assert.rejects(
      downloadFile({ repo: REPO, revision: 'main', path: 'weights/model.safetensors', dest }, { endpoint: hub.endpoint, freeSpace: async () => 1000 }),
      (e: Error) => e instanceof DiskSpaceError && /not enough disk space/.test(e.message) && e.message.includes('300 kB'),
    );
    assert.ok(!existsSync(dest) && !existsSync(`${dest}.part`));
  } finally {
    await hub.close();
  }
});
