/** Downloads into the Hugging Face cache layout from a local stand-in for the hub (paths-info API, resolve, CDN redirect). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskSpaceError, DownloadInterruptedError, HashMismatchError, downloadFile } from '../../bridge/models/download.ts';
import { HashCache } from '../../bridge/models/hash-cache.ts';
import { HubError, networkError } from '../../bridge/models/hub.ts';
import { COMMIT, sha256, startHub } from './hub-server.ts';
import { closedPort } from '../helpers/ports.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'ipa-dl-'));
const big = randomBytes(300_000);
const small = Buffer.from('{"hello": "world"}\n');
const REPO = 'acme/models';
const files = [
  { repo: REPO, path: 'weights/model.safetensors', content: big },
  { repo: REPO, path: 'vocab.json', content: small, lfs: false },
];
const REPO_DIR = 'models--acme--models';
const blobOf = (cache: string, b: Buffer) => join(cache, REPO_DIR, 'blobs', sha256(b));
const req = (cacheDir: string, path = 'weights/model.safetensors') => ({ repo: REPO, revision: 'main', path, cacheDir });


test('an LFS file lands in the hub cache layout: blob named by its sha256, snapshot symlink, refs/main', async () => {
  const hub = await startHub({ files });
  try {
    const cache = tmp();
    const seen: number[] = [];
    const r = await downloadFile(req(cache), { endpoint: hub.endpoint, onProgress: (p) => seen.push(p.received) });
    const pointer = join(cache, REPO_DIR, 'snapshots', COMMIT, 'weights', 'model.safetensors');
    assert.equal(r.path, pointer);
    assert.equal(r.blob, blobOf(cache, big));
    assert.ok(lstatSync(pointer).isSymbolicLink(), 'the snapshot entry is a symlink, as huggingface_hub makes it');
    assert.equal(readlinkSync(pointer), join('..', '..', '..', 'blobs', sha256(big)), 'relative, so the cache can move');
    assert.deepEqual(readFileSync(pointer), big);
    assert.equal(readFileSync(join(cache, REPO_DIR, 'refs', 'main'), 'utf8'), COMMIT);
    assert.equal(r.sha256, sha256(big));
    assert.equal(r.verifiedBy, 'hub-sha256');
    assert.equal(r.skipped, false);
    assert.ok(!existsSync(`${r.blob}.incomplete`), 'no partial file left');
    assert.deepEqual(hub.requests.map((q) => `${q.server} ${q.method} ${q.url.split('/')[1]}`), ['hub POST api', `hub GET acme`, 'cdn GET blobs'], 'paths-info (@huggingface/hub), then the file through the CDN redirect');
    assert.ok(hub.requests[1].url.includes(`/resolve/${COMMIT}/`), 'the file is fetched at the commit paths-info named');
    assert.equal(seen.at(-1), big.length);
  } finally {
    await hub.close();
  }
});

test('HF_TOKEN goes to the hub only (paths-info and resolve), never to the CDN; a refused token says to set HF_TOKEN', async () => {
  const hub = await startHub({ files, requireToken: 'secret-any-format' });
  try {
    await downloadFile(req(tmp()), { endpoint: hub.endpoint, token: 'secret-any-format' });
    assert.deepEqual(hub.requests.map((q) => [q.server, q.authorization]), [['hub', 'Bearer secret-any-format'], ['hub', 'Bearer secret-any-format'], ['cdn', undefined]]);
    await assert.rejects(downloadFile(req(tmp()), { endpoint: hub.endpoint, token: 'wrong' }), (e: Error) => e instanceof HubError && /gated.*HF_TOKEN/.test(e.message));
  } finally {
    await hub.close();
  }
});

test('an interrupted transfer keeps <blob>.incomplete; the next run sends Range and completes', async () => {
  const hub = await startHub({ files, cutAfter: 100_000 });
  try {
    const cache = tmp();
    await assert.rejects(downloadFile(req(cache), { endpoint: hub.endpoint, retries: 0 }), (e: Error) => e instanceof DownloadInterruptedError && /run the command again to resume/.test(e.message));
    const part = `${blobOf(cache, big)}.incomplete`;
    const partSize = statSync(part).size;
    assert.ok(partSize > 0 && partSize <= 100_000, `partial file kept (${partSize} bytes)`);
    const r = await downloadFile(req(cache), { endpoint: hub.endpoint, retries: 0 });
    const cdnGets = hub.requests.filter((q) => q.server === 'cdn');
    assert.equal(cdnGets.length, 2);
    assert.equal(cdnGets[1].range, `bytes=${partSize}-`);
    assert.equal(r.resumedFrom, partSize);
    assert.deepEqual(readFileSync(r.path), big);
    assert.ok(!existsSync(part));
  } finally {
    await hub.close();
  }
});

test('a dropped connection is resumed automatically within one call', async () => {
  const hub = await startHub({ files, cutAfter: 50_000, cutTimes: 2 });
  try {
    const r = await downloadFile(req(tmp()), { endpoint: hub.endpoint, retries: 3 });
    assert.deepEqual(readFileSync(r.path), big);
    const ranges = hub.requests.filter((q) => q.server === 'cdn').map((q) => q.range);
    assert.equal(ranges.length, 3);
    assert.equal(ranges[0], undefined);
    assert.ok(ranges.slice(1).some((x) => /^bytes=[1-9]\d*-$/.test(x ?? '')), `a retry resumed with Range (${ranges.join(', ')})`);
  } finally {
    await hub.close();
  }
});

test('a server that ignores Range (200) restarts the file instead of appending', async () => {
  const hub = await startHub({ files, ignoreRange: true });
  try {
    const cache = tmp();
    mkdirSync(join(cache, REPO_DIR, 'blobs'), { recursive: true });
    writeFileSync(`${blobOf(cache, big)}.incomplete`, big.subarray(0, 1234));
    const r = await downloadFile(req(cache), { endpoint: hub.endpoint });
    assert.equal(hub.requests.find((q) => q.server === 'cdn')?.range, 'bytes=1234-');
    assert.equal(r.resumedFrom, 0);
    assert.deepEqual(readFileSync(r.path), big);
  } finally {
    await hub.close();
  }
});

test('a complete partial file answered with 416 is verified and moved into place', async () => {
  const hub = await startHub({ files });
  try {
    const cache = tmp();
    mkdirSync(join(cache, REPO_DIR, 'blobs'), { recursive: true });
    writeFileSync(`${blobOf(cache, big)}.incomplete`, big);
    const r = await downloadFile(req(cache), { endpoint: hub.endpoint });
    assert.equal(r.sha256, sha256(big));
    assert.deepEqual(readFileSync(r.path), big);
  } finally {
    await hub.close();
  }
});

test('hash mismatch is rejected and the partial file removed', async () => {
  const lying = [{ repo: REPO, path: 'weights/model.safetensors', content: big, advertisedSha256: sha256(Buffer.from('something else')) }];
  const hub = await startHub({ files: lying });
  try {
    const cache = tmp();
    await assert.rejects(downloadFile(req(cache), { endpoint: hub.endpoint }), (e: Error) => e instanceof HashMismatchError && /partial download was removed/.test(e.message));
    const blobs = join(cache, REPO_DIR, 'blobs');
    assert.deepEqual(existsSync(blobs) ? readdirSync(blobs) : [], [], 'no blob, no partial file');
    assert.ok(!existsSync(join(cache, REPO_DIR, 'snapshots', COMMIT, 'weights', 'model.safetensors')));
  } finally {
    await hub.close();
  }
});

test('a pinned sha256 is checked against the download (non-LFS file) and against the hub (LFS) before any byte', async () => {
  const hub = await startHub({ files });
  try {
    const cache = tmp();
    const wrong = 'a'.repeat(64);
    await assert.rejects(downloadFile({ ...req(cache, 'vocab.json'), sha256: wrong }, { endpoint: hub.endpoint }), (e: Error) => e instanceof HashMismatchError && e.message.includes(wrong));
    assert.ok(!existsSync(join(cache, REPO_DIR, 'snapshots', COMMIT, 'vocab.json')));
    const before = hub.requests.length;
    await assert.rejects(downloadFile({ ...req(cache), sha256: wrong }, { endpoint: hub.endpoint }), (e: Error) => e instanceof HashMismatchError && /changed upstream/.test(e.message));
    assert.equal(hub.requests.slice(before).filter((q) => q.server === 'cdn').length, 0, 'nothing fetched from the CDN once the hub hash disagrees');
    const ok = await downloadFile({ ...req(cache), sha256: sha256(big) }, { endpoint: hub.endpoint });
    assert.equal(ok.verifiedBy, 'pinned');
  } finally {
    await hub.close();
  }
});

test('a small file is verified by its git blob sha1 and stored under it, like huggingface_hub does', async () => {
  const hub = await startHub({ files });
  try {
    const cache = tmp();
    const r = await downloadFile(req(cache, 'vocab.json'), { endpoint: hub.endpoint });
    assert.equal(r.verifiedBy, 'hub-git-sha1');
    assert.deepEqual(readFileSync(r.path), small);
    assert.match(r.blob, /blobs\/[0-9a-f]{40}$/);
  } finally {
    await hub.close();
  }
});

test('a file in the cache is kept: pinned needs no network at all; unpinned only asks the hub for its hash', async () => {
  const hub = await startHub({ files });
  try {
    const dir = tmp();
    const cache = new HashCache(join(dir, 'hash-cache'));
    await downloadFile(req(dir), { endpoint: hub.endpoint, hashCache: cache });
    const n = hub.requests.length;
    const again = await downloadFile({ ...req(dir), sha256: sha256(big) }, { endpoint: hub.endpoint, hashCache: cache });
    assert.equal(again.skipped, true);
    assert.equal(hub.requests.length, n, 'pinned + present: no network at all');
    assert.equal(cache.hits, 1, 'the hash recorded at download time was reused');
    const unpinned = await downloadFile(req(dir), { endpoint: hub.endpoint, hashCache: cache });
    assert.equal(unpinned.skipped, true);
    assert.deepEqual(hub.requests.slice(n).map((q) => `${q.server} ${q.method}`), ['hub POST'], 'only paths-info, nothing downloaded');
  } finally {
    await hub.close();
  }
});

test('a blob another tool (diffusers, the hub CLI) put in the cache serves our pull: no download', async () => {
  const hub = await startHub({ files });
  try {
    const dir = tmp();
    // What huggingface_hub leaves behind: the blob, and a snapshot of some other commit pointing at it.
    mkdirSync(join(dir, REPO_DIR, 'blobs'), { recursive: true });
    writeFileSync(blobOf(dir, big), big);
    mkdirSync(join(dir, REPO_DIR, 'snapshots', 'f'.repeat(40), 'weights'), { recursive: true });
    symlinkSync(join('..', '..', '..', 'blobs', sha256(big)), join(dir, REPO_DIR, 'snapshots', 'f'.repeat(40), 'weights', 'model.safetensors'));
    const r = await downloadFile(req(dir), { endpoint: hub.endpoint });
    assert.equal(r.skipped, true);
    assert.equal(hub.requests.filter((q) => q.server === 'cdn').length, 0);
    assert.deepEqual(readFileSync(r.path), big, 'linked into the current snapshot');
  } finally {
    await hub.close();
  }
});

test('404 names the repo and file; an unknown repo says so', async () => {
  const hub = await startHub({ files });
  try {
    await assert.rejects(
      downloadFile(req(tmp(), 'nope.safetensors'), { endpoint: hub.endpoint }),
      (e: Error) => e instanceof HubError && e.message.includes('nope.safetensors') && e.message.includes(REPO) && /not found/.test(e.message),
    );
    await assert.rejects(downloadFile({ repo: 'ghost/repo', revision: 'main', path: 'x.bin', cacheDir: tmp() }, { endpoint: hub.endpoint }), /repository ghost\/repo not found/);
  } finally {
    await hub.close();
  }
});

test('offline: an unreachable endpoint names the host, the cause and HF_ENDPOINT — not just "fetch failed"', async () => {
  const port = await closedPort();
  const endpoint = `http://127.0.0.1:${port}`;
  await assert.rejects(
    downloadFile(req(tmp(), 'a'), { endpoint }),
    (e: Error) => e instanceof HubError && e.message === `cannot reach 127.0.0.1:${port}; are you offline? (ECONNREFUSED) (HF_ENDPOINT is ${endpoint}: is that server running?)`,
  );
  const dns = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('getaddrinfo ENOTFOUND huggingface.co'), { code: 'ENOTFOUND' }) });
  assert.equal(networkError(dns, 'https://huggingface.co/x', 'https://huggingface.co')?.message, 'cannot reach huggingface.co; are you offline? (ENOTFOUND)');
  const tls = Object.assign(new TypeError('fetch failed'), { cause: new Error('other side closed') });
  assert.equal(networkError(tls, 'https://hf-mirror.example/x')?.message, 'cannot reach hf-mirror.example; are you offline? (other side closed)');
});

test('short disk space is refused before writing', async () => {
  const hub = await startHub({ files });
  try {
    const cache = tmp();
    await assert.rejects(
      downloadFile(req(cache), { endpoint: hub.endpoint, freeSpace: async () => 1000 }),
      (e: Error) => e instanceof DiskSpaceError && /not enough disk space/.test(e.message) && e.message.includes('300 kB'),
    );
    assert.ok(!existsSync(blobOf(cache, big)) && !existsSync(`${blobOf(cache, big)}.incomplete`));
  } finally {
    await hub.close();
  }
});
