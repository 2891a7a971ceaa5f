import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type WebSocket from 'ws';
import {
  DEFAULT_MAX_PAYLOAD, FRAME_FIXED_HEADER, PROTOCOL_VERSION, decodeFrame, encodeFrame, encodeFrameHeader, parseClientMessage,
  planJob, sha256Hex, validateJob, versionMismatchMessage, type FrameHeader, type SocketLike,
} from '../../shared/protocol/index.ts';

// Compile-time: the client runs on the browser/UXP WebSocket and on `ws`.
export const browserSocketFits = (w: globalThis.WebSocket): SocketLike => w;
export const wsSocketFits = (w: WebSocket): SocketLike => w;

const header: FrameHeader = { role: 'reference', format: 'raw-rgba8', jobId: 'job-1', index: 2, width: 3, height: 2, premultiplied: true };

test('binary frames round-trip and the payload is a view, not a copy', () => {
  const payload = new Uint8Array(3 * 2 * 4).map((_, i) => i);
  const hash = createHash('sha256').update(payload).digest('hex');
  const bytes = encodeFrame({ ...header, hash }, payload);
  assert.equal(bytes.length, FRAME_FIXED_HEADER + 5 + payload.length);
  assert.equal(String.fromCharCode(...bytes.subarray(0, 4)), 'IPAB');
  const f = decodeFrame(bytes);
  assert.deepEqual(f.header, { ...header, hash });
  assert.deepEqual([...f.payload], [...payload]);
  assert.equal(f.payload.buffer, bytes.buffer);
});

test('truncated, foreign and inconsistent frames are refused with a reason', () => {
  const good = encodeFrame(header, new Uint8Array(24));
  const cases: Array<[Uint8Array, RegExp]> = [
    [good.subarray(0, 10), /too short/],
    [new Uint8Array(good.length), /IPAB/],
    [patch(good, 4, 99), /version 99/],
    [patch(good, 5, 200), /role code/],
    [patch(good, 6, 77), /format code/],
    [patch(good, 7, 0x80), /flags/],
    [patch(good, 52, 0), /job id length/],
    [patch(good, 56, 0x20), /characters/],
    [good.subarray(0, good.length - 1), /payload is 23 bytes/],
    [encodeFrame({ ...header, format: 'png', width: 0, height: 0 }, new Uint8Array(3)), /too short/],
    [encodeFrame({ ...header, width: 0 }, new Uint8Array(0)), /needs a width/],
  ];
  for (const [bytes, re] of cases) assert.throws(() => decodeFrame(bytes), re);
  const hl = new Uint8Array(good);
  new DataView(hl.buffer).setUint16(10, 60000, true);
  assert.throws(() => decodeFrame(hl), /beyond the message/);
  assert.throws(() => encodeFrameHeader({ ...header, jobId: 'has space' }), /bad job id/);
});

test('the default payload cap fits a 4096x4096 RGBA frame with its header', () => {
  assert.ok(DEFAULT_MAX_PAYLOAD >= 4096 * 4096 * 4 + FRAME_FIXED_HEADER + 64);
});

test('pure sha256 matches node:crypto around block boundaries', () => {
  for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 100_003]) {
    const b = randomBytes(n);
    assert.equal(sha256Hex(b), createHash('sha256').update(b).digest('hex'), `length ${n}`);
  }
});

test('a minimal job gets the family-independent defaults; steps, sampler, guidance and size wait for the family', () => {
  const r = validateJob({ type: 'job', jobId: 'a', prompt: 'cat' });
  assert.ok(r.ok);
  // SD1.5 and SDXL differ in these (bridge/pipeline.ts fills them from the checkpoint's family).
  assert.deepEqual(r.value.params, { prompt: 'cat', negativePrompt: '', strength: 0.75, batchSize: 1, clipSkip: 1, loras: [] });
  assert.deepEqual(r.value.output, { format: 'png', preview: false, controlImages: false });
});

test('a full job validates and keeps every field', () => {
  const r = validateJob({
    type: 'job', jobId: 'full:1', prompt: 'p', negativePrompt: 'n', seed: 42, steps: 30, sampler: 'ddim', guidance: 5.5, strength: 0.6,
    batchSize: 2, clipSkip: 2, checkpoint: 'sd15/dreamshaper.safetensors', loras: [{ model: 'x.safetensors', strength: 0.8 }],
    init: { source: 'frame' }, mask: { source: 'hash', hash: 'a'.repeat(64), feather: 8, crop: true, padding: 16 },
    references: [{ source: 'frame', adapter: 'plus', scale: 0.8, preset: 'style', range: { start: 0, end: 0.6 } }],
    controls: [{ source: 'keypoints', type: 'pose', keypoints: { canvas_width: 512, canvas_height: 512, people: [{ pose_keypoints_2d: new Array(54).fill(1) }] } }],
    output: { format: 'raw-rgba8', preview: true },
  });
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.value.params.width, undefined, 'size derives from the init image');
  assert.equal(r.value.references[0].preset, 'style');
  assert.equal(r.value.mask?.from.source, 'hash');
  assert.equal(r.value.controls[0].from.source, 'keypoints');
});

test('every invalid field is reported with its path', () => {
  const base = { type: 'job', jobId: 'j', prompt: 'p' };
  const ref = { source: 'frame' };
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ steps: 0 }, 'steps', /1 to 150/],
    [{ steps: 151 }, 'steps', /1 to 150/],
    [{ steps: 2.5 }, 'steps', /whole number/],
    [{ steps: '20' }, 'steps', /finite number/],
    [{ guidance: Number.NaN }, 'guidance', /finite/],
    [{ width: 513, height: 512 }, 'width', /multiple of 8/],
    [{ width: 512 }, 'height', /both/],
    [{ width: 2048, height: 2048 }, 'width', /budget/],
    [{ sampler: 'plms' }, 'sampler', /one of/],
    [{ seed: -1 }, 'seed', /0 to/],
    [{ prompt: 'x'.repeat(9000) }, 'prompt', /at most/],
    [{ stpes: 20 }, 'stpes', /unknown field/],
    [{ references: [{ ...ref, scale: 5 }] }, 'references[0].scale', /0 to 3/],
    [{ references: [ref, { ...ref, adapter: 'ultra' }] }, 'references[1].adapter', /one of/],
    [{ references: [{ ...ref, range: { start: 0.8, end: 0.2 } }] }, 'references[0].range.start', /below end/],
    [{ references: [{ source: 'hash', hash: 'xyz' }] }, 'references[0].hash', /sha256/],
    [{ references: [{ source: 'frame', hash: 'a'.repeat(64) }] }, 'references[0].hash', /only goes with/],
    [{ references: new Array(9).fill(ref) }, 'references', /at most 8/],
    [{ references: [ref, { ...ref, mask: { source: 'keypoints' } }] }, 'references[1].mask.source', /one of/],
    [{ references: [{ ...ref, mask: { source: 'frame', feather: 2 } }] }, 'references[0].mask.feather', /unknown field/],
    [{ references: [{ ...ref, mask: { source: 'frame', invert: 'yes' } }] }, 'references[0].mask.invert', /true or false|boolean/],
    [{ controls: [{ source: 'frame', type: 'normal' }] }, 'controls[0].type', /one of/],
    [{ controls: [{ source: 'frame', type: 'canny', low: 200, high: 100 }] }, 'controls[0].low', /above high/],
    [{ controls: [{ source: 'keypoints', type: 'pose', keypoints: { canvas_width: 10, canvas_height: 10, people: [{ pose_keypoints_2d: [1, 2] }] } }] }, 'controls[0].keypoints.people[0].pose_keypoints_2d', /expected 54 or 75/],
    [{ mask: { source: 'frame' } }, 'mask', /needs an init/],
    [{ init: { source: 'frame' }, mask: { source: 'frame', feather: -1 } }, 'mask.feather', /0 to 256/],
    [{ checkpoint: '../../etc/passwd' }, 'checkpoint', /not a path/],
    [{ loras: [{ model: 'a', strength: 'high' }] }, 'loras[0].strength', /finite/],
    [{ output: { format: 'webp' } }, 'output.format', /one of/],
    [{ jobId: 'bad id' }, 'jobId', /A-Z/],
  ];
  for (const [patchFields, field, re] of cases) {
    const r = validateJob({ ...base, ...patchFields });
    assert.ok(!r.ok, `${field} should fail`);
    assert.equal(r.error.field, field, `${JSON.stringify(patchFields).slice(0, 80)} → ${r.error.message}`);
    assert.match(r.error.message, re);
    assert.equal(r.error.code, 'invalid-field');
  }
});

test('message-level problems: bad JSON, unknown type, non-object', () => {
  const bad = parseClientMessage('{nope');
  assert.ok(!bad.ok && bad.error.code === 'bad-json');
  const unknown = parseClientMessage('{"type":"explode"}');
  assert.ok(!unknown.ok && unknown.error.code === 'bad-message' && unknown.error.field === 'type');
  const arr = parseClientMessage('[1,2]');
  assert.ok(!arr.ok && arr.error.code === 'bad-message');
  const withId = parseClientMessage('{"type":"job","jobId":"k","prompt":1}');
  assert.ok(!withId.ok && withId.error.jobId === 'k' && withId.error.field === 'prompt');
  const hello = parseClientMessage(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, client: { name: 'ps', id: 'x' } }));
  assert.ok(hello.ok && hello.value.type === 'hello');
});

test('version mismatch tells which side to update', () => {
  assert.match(versionMismatchMessage(PROTOCOL_VERSION + 1), /update the bridge/);
  assert.match(versionMismatchMessage(PROTOCOL_VERSION - 1), /update the plugin/);
});

test('the client sends known blobs by hash and the rest as frames', () => {
  const known = 'b'.repeat(64);
  const img = (hash?: string) => ({ format: 'png' as const, width: 0, height: 0, data: new Uint8Array(10), ...(hash ? { hash } : {}) });
  const { message, frames } = planJob(
    { type: 'job', jobId: 'j', prompt: 'p', references: [{ source: 'frame', scale: 0.5 }, { source: 'frame' }] },
    { init: img(), references: [img(known), img('c'.repeat(64))] },
    new Set([known]),
  );
  assert.deepEqual(message.init, { source: 'frame' });
  assert.deepEqual(message.references, [{ source: 'hash', hash: known, scale: 0.5 }, { source: 'frame' }]);
  assert.deepEqual(frames.map((f) => `${f.role}:${f.index}`), ['init:0', 'reference:1']);
  assert.ok(validateJob(message).ok);
});

function patch(b: Uint8Array, at: number, value: number): Uint8Array {
  const c = new Uint8Array(b);
  c[at] = value;
  return c;
}
