/**
 * Regional image prompts and model families in the Figma plugin: the real sandbox over the fake `figma`
 * (test/figma/fake-figma.ts) and the UI's generation run (ui-run.ts, no DOM) on the shared connection
 * to a REAL daemon whose test engine also lists an SDXL checkpoint (test/helpers/test-engine-families.ts).
 * The worked example of docs/figma.md: two style references, one acting on the left half of the frame and
 * one on the right, through two region nodes. What goes over the wire is read off the socket.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import type { ExportedImage, ResultImage, SandboxMessage, TargetSummary, UiMessage } from '../../plugins/figma/src/messages.ts';
import { describeSelection, type FigmaApi } from '../../plugins/figma/src/nodes.ts';
import { startSandbox, type SandboxHandle } from '../../plugins/figma/src/sandbox.ts';
import { addRegionMasks, GenerationRun, type RunStatus } from '../../plugins/figma/src/ui-run.ts';
import type { JobMessage } from '../../shared/protocol/messages.ts';
import type { BridgeConnection } from '../../shared/plugin/connection.ts';
import { PendingJobs } from '../../shared/plugin/pending-jobs.ts';
import { DEFAULT_SETTINGS, type GenerationSettings } from '../../shared/plugin/settings.ts';
import { connectTo, testConnection } from '../helpers/connection.ts';
import { FAMILIES_DAEMON, useTestDaemon } from '../helpers/daemon.ts';
import { emptyWire, spySocket, type Wire } from '../helpers/socket-spy.ts';
import { SDXL_CHECKPOINT } from '../helpers/test-engine-families.ts';
import { FakeFigma, type FakeNode } from './fake-figma.ts';

const daemon = useTestDaemon(FAMILIES_DAEMON);

/** The sandbox answering the UI's export/insert requests directly (what ui-host.ts does over postMessage). */
function sandboxPort(figma: FakeFigma, sb: SandboxHandle) {
  let n = 0;
  const answer = async <T extends SandboxMessage['type']>(m: UiMessage, type: T): Promise<Extract<SandboxMessage, { type: T }>> => {
    const before = figma.posted.length;
    await sb.handle(structuredClone(m));
    const got = figma.posted.slice(before).map((x) => x as SandboxMessage).find((x) => x.type === type || x.type === 'failed');
    if (!got || got.type === 'failed') throw new Error(got?.type === 'failed' ? got.message : `no ${type}`);
    return got as Extract<SandboxMessage, { type: T }>;
  };
  return {
    newRequestId: () => `r${++n}`,
    exportFor: (m: Extract<UiMessage, { type: 'export' }>) => answer(m, 'exported'),
    insert: async (m: Extract<UiMessage, { type: 'insert' }>) => (await answer(m, 'inserted')).nodeIds,
  };
}

async function setup(): Promise<{ figma: FakeFigma; sb: SandboxHandle; wire: Wire; conn: BridgeConnection; frame: FakeNode; run(settings: Partial<GenerationSettings>): Promise<{ status: RunStatus; images: ResultImage[] }> }> {
  const figma = new FakeFigma();
  const sb = startSandbox(figma.asApi(), '<html>ui</html>');
  const wire = emptyWire();
  const conn = testConnection({ client: 'figma-test', openSocket: (url) => spySocket(url, wire), probe: false, backoff: { baseMs: 100, capMs: 400 } });
  await connectTo(conn, daemon);
  const frame = figma.add('FRAME', 'Harbour', { x: 40, y: 40, width: 200, height: 100 }, { r: 1, g: 0, b: 0 });
  const port = sandboxPort(figma, sb);
  const mem = new Map<string, string>();
  const pending = new PendingJobs({ load: (k) => mem.get(k) ?? null, save: (k, v) => void (v === null ? mem.delete(k) : mem.set(k, v)) }, 'pending', Date.now);
  const run = async (settings: Partial<GenerationSettings>) => {
    figma.select(frame);
    const target = describeSelection(figma.asApi() as FigmaApi).target as TargetSummary;
    let status: RunStatus = { phase: 'exporting' };
    const r = new GenerationRun({ conn, pending, sandbox: port, random: Math.random, now: Date.now },
      { intent: 'generate', settings: { ...DEFAULT_SETTINGS, prompt: 'a harbour at dusk', seed: 11, ...settings }, placement: 'beside', target },
      { status: (s) => (status = s), preview: () => undefined });
    await r.start();
    return { status, images: status.images ?? [] };
  };
  return { figma, sb, wire, conn, frame, run };
}

const mark = async (figma: FakeFigma, sb: SandboxHandle, role: 'reference' | 'region', ...nodes: FakeNode[]): Promise<void> => {
  figma.select(...nodes);
  await sb.handle({ type: 'set-role', role });
};

test('two style references, left and right, through two region nodes on the frame', async () => {
  const { figma, sb, wire, conn, frame, run } = await setup();
  const painting = figma.add('RECTANGLE', 'Painting', { x: 400, y: 0, width: 64, height: 64 }, { r: 0, g: 0, b: 1 });
  const photo = figma.add('RECTANGLE', 'Photo', { x: 500, y: 0, width: 64, height: 64 }, { r: 0, g: 1, b: 0 });
  const left = figma.add('RECTANGLE', 'Left half', { x: 0, y: 0, width: 100, height: 100 }, undefined, frame);
  const right = figma.add('ELLIPSE', 'Right oval', { x: 100, y: 0, width: 100, height: 100 }, undefined, frame);
  left.visible = right.visible = false; // hidden: they mark areas, they are not part of the picture
  await mark(figma, sb, 'reference', painting);
  await mark(figma, sb, 'reference', photo);
  await mark(figma, sb, 'region', painting, left);
  await mark(figma, sb, 'region', right, photo);
  // One node alone cannot be a region: the user is told what to select.
  await mark(figma, sb, 'region', right);
  assert.match(figma.notices.at(-1)?.message ?? '', /Select a style node and the shape for its region together/);
  const roles = (figma.posted as SandboxMessage[]).filter((m) => m.type === 'roles').at(-1);
  assert.deepEqual(roles?.type === 'roles' && roles.roles.map((r) => [r.role, r.name, r.regionFor?.name ?? '']), [
    ['reference', 'Painting', ''], ['reference', 'Photo', ''], ['region', 'Left half', 'Painting'], ['region', 'Right oval', 'Photo'],
  ]);

  // Text only: the masks go at the generation size.
  const a = await run({ useInit: false, mode: 'canvas' });
  assert.equal(a.status.phase, 'done', a.status.message);
  const job = wire.jobs.at(-1)!;
  assert.deepEqual(job.references?.map((r) => r.mask), [{ source: 'frame' }, { source: 'frame' }]);
  const masks = wire.frames.filter((f) => f.role === 'reference-mask');
  assert.deepEqual(masks.map((m) => [m.index, m.width, m.height]), [[0, job.width, job.height], [1, job.width, job.height]]);
  const [m0, m1] = masks;
  const mid = (job.height! >> 1) * m0.width;
  assert.deepEqual([m0.payload[mid + 2], m0.payload[mid + m0.width - 3]], [255, 0], 'the painting on the left');
  assert.deepEqual([m1.payload[mid + 2], m1.payload[mid + m1.width - 3], m1.payload[m1.width - 3]], [0, 255, 0], 'the photo in the right oval (not its corner)');
  const acc = wire.accepted.at(-1)!;
  assert.equal(acc.inputs.referenceMasks?.filter((h) => typeof h === 'string').length, 2);
  const rec = a.images[0].record;
  assert.deepEqual(rec.references.map((r) => r.mask), acc.inputs.referenceMasks!.map((hash) => ({ source: 'hash', hash })));

  // From the frame's pixels: the masks go at the exported init's size.
  const b = await run({ useInit: true, mode: 'img2img' });
  assert.equal(b.status.phase, 'done', b.status.message);
  const init = await sharp(wire.frames.filter((f) => f.role === 'init').at(-1)!.payload).metadata();
  const last = wire.frames.filter((f) => f.role === 'reference-mask').slice(-2);
  assert.deepEqual(last.map((m) => [m.width, m.height]), [[init.width, init.height], [init.width, init.height]], 'the exported init\'s size');
  assert.equal(typeof wire.accepted.at(-1)!.inputs.referenceMasks?.[1], 'string');
  conn.close();
});

test('a region outside the frame is refused before anything is sent', () => {
  const job: JobMessage = { type: 'job', jobId: 'x', prompt: 'p', width: 64, height: 64, references: [{ source: 'frame' }] };
  const inputs = {};
  const none: ExportedImage | null = null;
  assert.throws(() => addRegionMasks(job, inputs, { init: none, regions: [{ x: 2, y: 0, width: 0.5, height: 1, shape: 'rect', name: 'Off' }] }), /The region "Off" does not lie on the target/);
});

test('SDXL checkpoint: the frame is generated at the nearest aspect bucket with SDXL\'s defaults; the record names the family', async () => {
  const { wire, conn, run } = await setup();
  const r = await run({ useInit: false, mode: 'canvas', checkpoint: SDXL_CHECKPOINT });
  assert.equal(r.status.phase, 'done', r.status.message);
  const job = wire.jobs.at(-1)!;
  // 200×100 (2:1) → 1344×768; steps/CFG/sampler untouched → 30, 5, DPM++ 2M Karras.
  assert.deepEqual([job.checkpoint, job.width, job.height, job.steps, job.guidance, job.sampler], [SDXL_CHECKPOINT, 1344, 768, 30, 5, 'dpmpp-2m-karras']);
  assert.equal(r.images[0].record.family, 'sdxl');
  // SD1.5 (the default checkpoint) keeps today's ~512² fitting and the form's values.
  const sd = await run({ useInit: false, mode: 'canvas' });
  assert.equal(sd.status.phase, 'done', sd.status.message);
  const j2 = wire.jobs.at(-1)!;
  assert.deepEqual([j2.width, j2.height, j2.steps, j2.guidance], [728, 360, 20, 7]);
  assert.equal(sd.images[0].record.family, 'sd15');
  conn.close();
});
