/**
 * Jobs through a real daemon process (test engine, 20 ms per step) and real `ws` clients: results and
 * metadata, validation errors on a connection that stays usable, cancel, disconnect + resume, fair
 * queueing, inputs by hash, previews, inpainting, engine errors, and shutdown.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { BridgeClient, type ResultMessage } from '../../shared/protocol/index.ts';
import WebSocket from 'ws';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { expectedColor } from '../helpers/test-engine.ts';
import { TestClient } from '../helpers/ws-client.ts';
import { readPngText } from '../../bridge/png-text.ts';
import { a1111Parameters } from '../../engine/pipeline/metadata.ts';

const STEP_MS = 20;
let d: TestDaemon;

before(async () => {
  d = await startTestDaemon({ stepMs: STEP_MS, args: ['--grace', '1000', '--frame-timeout', '300', '--verbose'] });
});

after(async () => {
  await d.stop();
});

const small = { width: 64, height: 64 };
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function rgba(w: number, h: number, c: [number, number, number, number]): Uint8Array {
  const out = new Uint8Array(w * h * 4);
  for (let i = 0; i < out.length; i += 4) out.set(c, i);
  return out;
}

test('a job: accepted, started, progress per step, result with a PNG frame and full metadata', async () => {
  const { c, welcome } = await TestClient.connect(d.url());
  assert.equal(welcome.protocol, 1);
  assert.ok(welcome.capabilities.samplers.includes('dpmpp-2m-karras'));
  assert.equal(welcome.capabilities.models.length, 4);
  assert.deepEqual(welcome.capabilities.adapters, ['base', 'plus'], 'only the installed adapter kinds');
  assert.deepEqual(welcome.capabilities.controls, ['pose']);
  c.send({ type: 'job', jobId: 'basic', prompt: 'a cat', seed: 42, steps: 5, sampler: 'ddim', ...small });
  const acc = await c.expect('accepted', 'basic');
  assert.equal(acc.position, 0);
  const started = await c.expect('started', 'basic');
  assert.deepEqual([started.width, started.height, started.steps], [64, 64, 5]);
  const steps: number[] = [];
  for (let i = 0; i < 5; i++) steps.push((await c.expect('progress', 'basic')).step);
  assert.deepEqual(steps, [1, 2, 3, 4, 5]);
  const res = await c.expect('result', 'basic');
  assert.equal(res.images.length, 1);
  assert.equal(res.metadata.params.seed, 42);
  assert.equal(res.metadata.params.sampler, 'ddim');
  assert.equal(res.metadata.models.checkpoint.name, 'test-sd15.safetensors');
  assert.ok(res.metadata.timings.total >= 5 * STEP_MS * 0.8);
  const f = await c.frame((h) => h.role === 'result' && h.jobId === 'basic');
  assert.equal(f.header.format, 'png');
  assert.equal(f.header.hash, res.images[0].hash);
  assert.equal(sha(f.payload), res.images[0].hash);
  const { data, info } = await sharp(f.payload).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height], [64, 64]);
  const [r, g] = expectedColor('a cat', 42);
  assert.deepEqual([data[0], data[1]], [r, g], 'the engine got the prompt and seed');
  // The file's text is the metadata the client got, in one owner's format: nothing rebuilt differently.
  const text = readPngText(f.payload);
  const { timings: _timings, ...settings } = res.metadata;
  assert.deepEqual(JSON.parse(text['ipa-bridge'] ?? '{}'), settings);
  assert.equal(text.parameters, a1111Parameters(res.metadata, 0));
  c.close();
  assert.match(d.log(), /job basic 64x64 steps=5\/5 [\d.]+ ms\/step total/);
});

test('validation errors name the field; the connection stays usable', async () => {
  const { c } = await TestClient.connect(d.url());
  const bad: Array<[object, string]> = [
    [{ steps: 0 }, 'steps'],
    [{ width: 100, height: 64 }, 'width'],
    [{ references: [{ source: 'frame', scale: 0.5 }, { source: 'frame', scale: 9 }] }, 'references[1].scale'],
    [{ controls: [{ source: 'frame', type: 'pose', range: { start: 0.5, end: 0.1 } }] }, 'controls[0].range.start'],
  ];
  for (const [fields, field] of bad) {
    c.send({ type: 'job', jobId: 'v', prompt: 'x', ...fields });
    const e = await c.expect('error', 'v');
    assert.equal(e.code, 'invalid-field');
    assert.equal(e.field, field, e.message);
  }
  c.send({ type: 'job', jobId: 'v', prompt: 'fine now', steps: 1, ...small });
  await c.expect('result', 'v');
  c.send({ type: 'job', jobId: 'v', prompt: 'again', steps: 1, ...small });
  assert.equal((await c.expect('error', 'v')).code, 'duplicate-job');
  c.send({ type: 'release', jobId: 'v' });
  c.send({ type: 'job', jobId: 'v', prompt: 'after release', steps: 1, ...small });
  await c.expect('result', 'v');
  c.close();
});

test('cancel mid-job stops within one step', async () => {
  const { c } = await TestClient.connect(d.url());
  c.send({ type: 'job', jobId: 'long', prompt: 'x', steps: 150, ...small });
  const progressSteps = (): number[] => c.inbox.flatMap((r) => (r.kind === 'json' && r.msg.type === 'progress' ? [r.msg.step] : []));
  await c.json((m) => m.type === 'progress' && m.step >= 3);
  const stepAtCancel = Math.max(3, ...progressSteps());
  const t0 = Date.now();
  c.send({ type: 'cancel', jobId: 'long' });
  const m = await c.expect('cancelled', 'long');
  assert.equal(m.reason, 'client');
  assert.ok(Date.now() - t0 < 1000, `cancel took ${Date.now() - t0} ms`);
  const lastStep = Math.max(stepAtCancel, ...progressSteps());
  assert.ok(lastStep - stepAtCancel <= 2, `ran on from step ${stepAtCancel} to ${lastStep} after cancel`);
  // The queue moves on.
  c.send({ type: 'job', jobId: 'next', prompt: 'x', steps: 1, ...small });
  await c.expect('result', 'next');
  c.close();
});

test('disconnect mid-job, reconnect, resume: the result is waiting', async () => {
  const a = await TestClient.connect(d.url());
  a.c.send({ type: 'job', jobId: 'drop-1', prompt: 'survivor', seed: 7, steps: 10, ...small });
  await a.c.json((m) => m.type === 'progress' && m.step >= 2);
  a.c.ws.terminate();
  await new Promise((r) => setTimeout(r, STEP_MS * 12)); // the job finishes while nobody listens
  const b = await TestClient.connect(d.url());
  b.c.send({ type: 'resume', jobId: 'drop-1' });
  const res = await b.c.expect('result', 'drop-1');
  assert.equal(res.metadata.params.seed, 7);
  await b.c.frame((h) => h.jobId === 'drop-1' && h.role === 'result');
  b.c.send({ type: 'resume', jobId: 'no-such-job' });
  assert.equal((await b.c.expect('error', 'no-such-job')).code, 'unknown-job');
  b.c.close();
});

test('resume a still-running job re-attaches progress; the shared client does it end to end', async () => {
  const a = await TestClient.connect(d.url());
  a.c.send({ type: 'job', jobId: 'drop-2', prompt: 'x', steps: 15, ...small });
  await a.c.json((m) => m.type === 'progress' && m.step >= 1);
  a.c.ws.terminate();
  const ws = new WebSocket(d.url());
  const client = new BridgeClient(ws, { name: 'resumer', version: '1' });
  await client.ready;
  const progress: number[] = [];
  const out = await client.resume('drop-2', { onProgress: (m) => progress.push(m.step) });
  assert.equal(out.images.length, 1);
  assert.ok(progress.length > 0 && progress[progress.length - 1] === 15);
  client.close();
});

test("a disconnected client's queued jobs are cancelled after the grace period", async () => {
  const a = await TestClient.connect(d.url());
  a.c.send({ type: 'job', jobId: 'blocker', prompt: 'x', steps: 100, ...small });
  a.c.send({ type: 'job', jobId: 'orphan', prompt: 'x', steps: 1, ...small });
  await a.c.expect('accepted', 'orphan');
  a.c.ws.terminate();
  const b = await TestClient.connect(d.url());
  b.c.send({ type: 'resume', jobId: 'blocker' });
  await b.c.expect('accepted', 'blocker');
  await new Promise((r) => setTimeout(r, 1300));
  b.c.send({ type: 'resume', jobId: 'orphan' });
  const m = await b.c.expect('cancelled', 'orphan');
  assert.equal(m.reason, 'disconnected');
  b.c.send({ type: 'cancel', jobId: 'blocker' });
  await b.c.expect('cancelled', 'blocker');
  b.c.close();
});

test('two clients are queued fairly: a batch does not starve a single job', async () => {
  const a = await TestClient.connect(d.url(), 'client-a');
  const b = await TestClient.connect(d.url(), 'client-b');
  // a1 is long enough that b1 arrives while it runs, even on a loaded machine.
  for (const id of ['a1', 'a2', 'a3']) a.c.send({ type: 'job', jobId: id, prompt: id, steps: id === 'a1' ? 40 : 3, ...small });
  await a.c.expect('accepted', 'a3');
  b.c.send({ type: 'job', jobId: 'b1', prompt: 'b1', steps: 3, ...small });
  const accB = await b.c.expect('accepted', 'b1');
  assert.equal(accB.position, 1, 'b1 runs right after the running a1');
  const q = await a.c.expect('queued', 'a2');
  assert.equal(q.position, 2, 'a2 moved back behind b1');
  const done: Array<[string, number]> = [];
  await Promise.all([
    ...['a1', 'a2', 'a3'].map(async (id) => done.push([id, (await a.c.expect('result', id, 15_000)) && Date.now()])),
    (async () => done.push(['b1', (await b.c.expect('result', 'b1', 15_000)) && Date.now()]))(),
  ]);
  const startedOrder = [...a.c.inbox, ...b.c.inbox].filter((r) => r.kind === 'json' && r.msg.type === 'started')
    .sort((x, y) => x.at - y.at).map((r) => (r.kind === 'json' && r.msg.type === 'started' ? r.msg.jobId : ''));
  assert.deepEqual(startedOrder, ['a1', 'b1', 'a2', 'a3']);
  a.c.close();
  b.c.close();
});

test('regional image prompts: reference masks as frames, checked per field, recorded by hash and reusable', async () => {
  const { c } = await TestClient.connect(d.url());
  const ref = rgba(32, 32, [10, 200, 30, 255]);
  const half = (left: boolean): Uint8Array => Uint8Array.from({ length: 64 * 64 }, (_v, i) => ((i % 64 < 32) === left ? 255 : 0));
  const [leftMask, rightMask] = [half(true), half(false)];
  const refs = [{ source: 'frame', scale: 0.8, mask: { source: 'frame' } }, { source: 'frame', scale: 0.6, mask: { source: 'frame' } }];
  c.send({ type: 'job', jobId: 'rm1', prompt: 'x', seed: 3, steps: 1, ...small, references: refs });
  for (const i of [0, 1]) {
    c.sendFrame({ role: 'reference', format: 'raw-rgba8', jobId: 'rm1', index: i, width: 32, height: 32, premultiplied: false }, ref);
    c.sendFrame({ role: 'reference-mask', format: 'raw-gray8', jobId: 'rm1', index: i, width: 64, height: 64, premultiplied: false }, i === 0 ? leftMask : rightMask);
  }
  const acc = await c.expect('accepted', 'rm1');
  assert.deepEqual(acc.inputs.referenceMasks, [sha(leftMask), sha(rightMask)]);
  const r1 = await c.expect('result', 'rm1');
  assert.deepEqual(r1.metadata.references.map((r) => r.mask), [{ source: 'hash', hash: sha(leftMask) }, { source: 'hash', hash: sha(rightMask) }]);
  // Regenerate from the metadata: everything by hash, nothing resent.
  c.send({ type: 'job', jobId: 'rm2', prompt: 'x', seed: 3, steps: 1, ...small, references: r1.metadata.references.map((r) => ({ source: 'hash', hash: r.hash, scale: r.scale, mask: r.mask })) });
  const r2 = await c.expect('result', 'rm2');
  assert.equal(r2.images[0].hash, r1.images[0].hash);
  // A mask of another shape than the image is refused, naming the reference's mask.
  c.send({ type: 'job', jobId: 'rm3', prompt: 'x', steps: 1, ...small, references: [{ source: 'hash', hash: sha(ref), mask: { source: 'frame' } }] });
  c.sendFrame({ role: 'reference-mask', format: 'raw-gray8', jobId: 'rm3', index: 0, width: 64, height: 32, premultiplied: false }, new Uint8Array(64 * 32).fill(255));
  const e = await c.expect('error', 'rm3');
  assert.equal(e.field, 'references[0].mask');
  assert.match(e.message, /64x32, another shape than the 64x64 image/);
  c.close();
});

test('inputs by content hash: sent once as a frame, then reused; a missing hash is named', async () => {
  const { c } = await TestClient.connect(d.url());
  const ref = rgba(32, 32, [10, 200, 30, 255]);
  const hash = sha(ref);
  c.send({ type: 'job', jobId: 'h1', prompt: 'x', seed: 3, steps: 1, ...small, references: [{ source: 'frame', scale: 1 }] });
  c.sendFrame({ role: 'reference', format: 'raw-rgba8', jobId: 'h1', index: 0, width: 32, height: 32, premultiplied: false, hash }, ref);
  const acc = await c.expect('accepted', 'h1');
  assert.deepEqual(acc.inputs.references, [hash]);
  const r1 = await c.expect('result', 'h1');
  c.send({ type: 'job', jobId: 'h2', prompt: 'x', seed: 3, steps: 1, ...small, references: [{ source: 'hash', hash, scale: 1 }] });
  const r2 = await c.expect('result', 'h2');
  assert.equal(r2.metadata.references[0].hash, hash);
  assert.equal(r2.images[0].hash, r1.images[0].hash, 'same pixels reached the engine');
  const unknown = 'f'.repeat(64);
  c.send({ type: 'job', jobId: 'h3', prompt: 'x', steps: 1, ...small, references: [{ source: 'frame' }, { source: 'hash', hash: unknown }] });
  const e = await c.expect('error', 'h3');
  assert.equal(e.code, 'blob-missing');
  assert.equal(e.field, 'references[1].hash');
  // A wrong hash in a frame header is caught.
  c.send({ type: 'job', jobId: 'h4', prompt: 'x', steps: 1, ...small, references: [{ source: 'frame' }] });
  c.sendFrame({ role: 'reference', format: 'raw-rgba8', jobId: 'h4', index: 0, width: 32, height: 32, premultiplied: false, hash: unknown }, ref);
  assert.equal((await c.expect('error', 'h4')).code, 'hash-mismatch');
  c.close();
});

test('the shared client: frames, previews, raw output, automatic resend when a blob is gone', async () => {
  const ws = new WebSocket(d.url());
  const client = new BridgeClient(ws, { name: 'shared', version: '1', id: 'shared-client' });
  await client.ready;
  const ref = { format: 'raw-rgba8' as const, width: 16, height: 16, data: rgba(16, 16, [1, 2, 3, 255]) };
  const previews: number[] = [];
  const out = await client.submit(
    { type: 'job', jobId: 's1', prompt: 'x', steps: 3, ...small, references: [{ source: 'frame', scale: 0.5 }], output: { format: 'raw-rgba8', preview: true } },
    { references: [ref] },
    { onPreview: (p) => previews.push(p.step) },
  );
  assert.deepEqual(previews, [1, 2, 3]);
  assert.equal(out.images[0].descriptor.format, 'raw-rgba8');
  assert.equal(out.images[0].data.length, 64 * 64 * 4);
  const refHash = sha(ref.data);
  assert.ok(client.knownHashes.has(refHash));
  // Pretend a stale hash is known: the daemon answers blob-missing and the client resends the bytes.
  const stale = { ...ref, data: rgba(16, 16, [9, 9, 9, 255]) };
  const staleHash = sha(stale.data);
  client.knownHashes.add(staleHash);
  const again = await client.submit({ type: 'job', jobId: 's2', prompt: 'x', steps: 1, ...small, references: [{ source: 'frame' }] }, { references: [{ ...stale, hash: staleHash }] });
  assert.equal(again.result.metadata.references[0].hash, staleHash);
  await assert.rejects(client.submit({ type: 'job', jobId: 's3', prompt: '[engine-error]', steps: 1, ...small }), (e: Error & { code?: string; field?: string }) => e.code === 'model-missing' && e.field === 'checkpoint');
  assert.ok((await client.ping()) >= 0);
  client.close();
});

test('inpainting with crop-to-mask: the result has the init size and pixels outside the mask are untouched', async () => {
  const { c } = await TestClient.connect(d.url());
  const W = 120, H = 80;
  const init = await sharp(Buffer.from(rgba(W, H, [50, 60, 70, 255])), { raw: { width: W, height: H, channels: 4 } }).png().toBuffer();
  const mask = new Uint8Array(W * H);
  for (let y = 20; y < 40; y++) for (let x = 30; x < 70; x++) mask[y * W + x] = 255;
  c.send({ type: 'job', jobId: 'inp', prompt: 'x', steps: 2, strength: 1, init: { source: 'frame' }, mask: { source: 'frame', crop: true, padding: 8 } });
  c.sendFrame({ role: 'init', format: 'png', jobId: 'inp', index: 0, width: 0, height: 0, premultiplied: false }, init);
  c.sendFrame({ role: 'mask', format: 'raw-gray8', jobId: 'inp', index: 0, width: W, height: H, premultiplied: false }, mask);
  const res = (await c.expect('result', 'inp')) as ResultMessage;
  assert.deepEqual([res.metadata.outputWidth, res.metadata.outputHeight], [W, H]);
  assert.deepEqual(res.metadata.region, { x: 22, y: 12, width: 56, height: 36 });
  const f = await c.frame((h) => h.jobId === 'inp');
  const { data } = await sharp(f.payload).raw().toBuffer({ resolveWithObject: true });
  const at = (x: number, y: number) => [...data.subarray((y * W + x) * 4, (y * W + x) * 4 + 3)];
  assert.deepEqual(at(5, 5), [50, 60, 70]);
  assert.deepEqual(at(25, 15), [50, 60, 70], 'inside the padding, outside the mask');
  assert.notDeepEqual(at(50, 30), [50, 60, 70], 'repainted inside the mask');
  c.close();
});

test('pose keypoints as a control; frames that never come time out per field', async () => {
  const { c } = await TestClient.connect(d.url());
  const k = new Array(54).fill(0);
  k.splice(0, 6, 32, 10, 1, 32, 30, 1);
  c.send({ type: 'job', jobId: 'pose', prompt: 'x', steps: 1, ...small, controls: [{ source: 'keypoints', type: 'pose', keypoints: { canvas_width: 64, canvas_height: 64, people: [{ pose_keypoints_2d: k }] } }], output: { controlImages: true } });
  const res = await c.expect('result', 'pose');
  assert.equal(res.controlImages.length, 1);
  assert.equal(res.metadata.controls[0].type, 'pose');
  const cf = await c.frame((h) => h.jobId === 'pose' && h.role === 'control-result');
  const { data } = await sharp(cf.payload).raw().toBuffer({ resolveWithObject: true });
  assert.ok(data[(20 * 64 + 32) * 4 + 2] > 0, 'the neck-to-nose limb is drawn');

  c.send({ type: 'job', jobId: 'slow', prompt: 'x', steps: 1, ...small, references: [{ source: 'frame' }], controls: [{ source: 'frame', type: 'depth' }] });
  c.sendFrame({ role: 'reference', format: 'raw-rgba8', jobId: 'slow', index: 0, width: 2, height: 2, premultiplied: false }, new Uint8Array(16));
  const e = await c.expect('error', 'slow');
  assert.equal(e.code, 'frames-timeout');
  assert.equal(e.field, 'controls[0]');
  c.close();
});

test('SIGTERM: running job cancelled with reason shutdown, sockets closed 1001, exit 0', async () => {
  const d2 = await startTestDaemon({ stepMs: STEP_MS });
  const { c } = await TestClient.connect(d2.url());
  c.send({ type: 'job', jobId: 'running', prompt: 'x', steps: 150, ...small });
  c.send({ type: 'job', jobId: 'waiting', prompt: 'x', steps: 1, ...small });
  await c.expect('progress', 'running');
  const exit = d2.stop('SIGTERM');
  const m1 = await c.expect('cancelled', 'waiting');
  const m2 = await c.expect('cancelled', 'running');
  assert.equal(m1.reason, 'shutdown');
  assert.equal(m2.reason, 'shutdown');
  assert.equal((await c.closed).code, 1001);
  assert.equal((await exit).code, 0);
  assert.match(d2.log(), /SIGTERM: stopping/);
});
