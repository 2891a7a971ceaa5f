/**
 * Model families and regional image prompts in the Photoshop panel: the controller with the real UXP
 * host over the in-memory Photoshop and a REAL daemon whose test engine also lists an SDXL checkpoint
 * (test/helpers/test-engine-families.ts). What goes over the wire is read off the socket itself:
 * - the reference layer's layer mask becomes `references[0].mask` with a `reference-mask` frame at the
 *   size the daemon wants (the generation size without an init; the init's read size, cut to the
 *   selection's box, with one), the daemon accepts it (`accepted.inputs.referenceMasks`) and the result
 *   metadata in the layer's record keeps it (by hash);
 * - on the SDXL checkpoint the canvas is generated at the nearest aspect bucket with SDXL's defaults,
 *   and the record names the family.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PanelController } from '../../plugins/photoshop/src/controller.ts';
import { parseRecord } from '../../shared/plugin/record.ts';
import { readXmpRecord } from '../../shared/plugin/xmp-record.ts';
import { FAMILIES_DAEMON, useTestDaemon } from '../helpers/daemon.ts';
import { emptyWire, spySocket, type Wire } from '../helpers/socket-spy.ts';
import { SDXL_CHECKPOINT } from '../helpers/test-engine-families.ts';
import { openPanelSession, type PanelSession } from './controller-rig.ts';
import type { FakeDocument } from './fake-photoshop.ts';
import { SCENE } from './scene.ts';

const daemon = useTestDaemon(FAMILIES_DAEMON);

async function rig(): Promise<PanelSession & { wire: Wire; close(): void }> {
  const wire = emptyWire();
  const session = await openPanelSession({ daemon, client: 'ps-test', scene: { selection: false }, openSocket: (url) => spySocket(url, wire) });
  return Object.assign(session, { wire, close: () => session.conn.close() });
}

/** The notice now (a function, so an earlier `notice === null` assertion does not narrow it). */
const noticeText = (ctl: PanelController): string => ctl.notice?.text ?? '';
const generated = (doc: FakeDocument) => doc.all().filter((l) => l.name.startsWith('[IPA]'));
/** The Style layer with a layer mask: white left of x = 160 (the document's middle), black right of it. */
const maskLeftHalf = (doc: FakeDocument): void => {
  const style = doc.byName('Style');
  style.userMask = Float32Array.from({ length: SCENE.width * SCENE.height }, (_v, i) => (i % SCENE.width < SCENE.width / 2 ? 1 : 0));
};
const styleRef = (doc: FakeDocument) => ({ source: 'layer' as const, layerId: doc.byName('Style').id, layerName: 'Style', fileName: '', mask: true });

test('regional image prompt, whole canvas: the layer mask goes as references[0].mask at the generation size and comes back in the record', async () => {
  const r = await rig();
  maskLeftHalf(r.doc);
  r.ctl.update({ prompt: 'harbour', mode: 'canvas', seed: 5, steps: 3, reference: styleRef(r.doc) });
  await r.ctl.generate();
  assert.equal(r.ctl.notice, null, r.ctl.notice?.text);
  const job = r.wire.jobs.at(-1)!;
  assert.deepEqual(job.references?.[0].mask, { source: 'frame' });
  const f = r.wire.frames.find((x) => x.role === 'reference-mask')!;
  assert.ok(f, 'a reference-mask frame was sent');
  assert.deepEqual([f.index, f.width, f.height], [0, job.width, job.height], 'no init: the mask has the generation size');
  assert.deepEqual([f.payload[0], f.payload[f.width - 1]], [255, 0], 'white on the left, black on the right');
  const acc = r.wire.accepted.find((a) => a.jobId === job.jobId)!;
  assert.equal(typeof acc.inputs.referenceMasks?.[0], 'string', 'the daemon took the mask');
  const [layer] = generated(r.doc);
  const rec = parseRecord(JSON.parse(readXmpRecord(layer.xmp)!))!;
  assert.deepEqual(rec.references[0].mask, { source: 'hash', hash: acc.inputs.referenceMasks![0] });
  assert.equal(rec.settings.reference.mask, true);
  r.close();
});

test('two reference layers, left and right: two masks, two references, both kept in the record', async () => {
  const r = await rig();
  maskLeftHalf(r.doc);
  const second = r.doc.byName('Pose');
  second.userMask = Float32Array.from({ length: SCENE.width * SCENE.height }, (_v, i) => (i % SCENE.width < SCENE.width / 2 ? 0 : 1));
  r.ctl.update({ prompt: 'harbour', mode: 'canvas', seed: 5, steps: 3, reference: styleRef(r.doc), reference2: { layerId: second.id, layerName: 'Pose', mask: true } });
  await r.ctl.generate();
  assert.equal(r.ctl.notice, null, r.ctl.notice?.text);
  const job = r.wire.jobs.at(-1)!;
  assert.deepEqual(job.references?.map((x) => [x.source, x.mask]), [['frame', { source: 'frame' }], ['frame', { source: 'frame' }]]);
  const masks = r.wire.frames.filter((x) => x.role === 'reference-mask');
  assert.deepEqual(masks.map((m) => [m.index, m.width, m.height]), [[0, job.width, job.height], [1, job.width, job.height]]);
  assert.deepEqual([masks[0].payload[0], masks[0].payload[masks[0].width - 1], masks[1].payload[0], masks[1].payload[masks[1].width - 1]], [255, 0, 0, 255]);
  assert.equal(r.wire.frames.filter((x) => x.role === 'reference').length, 2);
  const acc = r.wire.accepted.at(-1)!;
  assert.equal(acc.inputs.referenceMasks?.filter((h) => typeof h === 'string').length, 2);
  const rec = parseRecord(JSON.parse(readXmpRecord(generated(r.doc)[0].xmp)!))!;
  assert.deepEqual(rec.references.map((x) => x.mask), acc.inputs.referenceMasks!.map((hash) => ({ source: 'hash', hash })));
  assert.deepEqual(rec.settings.reference2, { layerId: second.id, layerName: 'Pose', mask: true });
  r.close();
});

test('regional image prompt with img2img in a selection: the mask at the init\'s size, cut to the selection\'s box', async () => {
  const r = await rig();
  maskLeftHalf(r.doc);
  const sel = SCENE.selection; // x 100–220: the mask's edge (x = 160) is in its middle
  r.world.setSelection(r.doc, sel);
  r.ctl.update({ prompt: 'harbour', mode: 'img2img', strength: 0.6, seed: 5, steps: 3, reference: styleRef(r.doc) });
  await r.ctl.generate();
  assert.equal(r.ctl.notice, null, r.ctl.notice?.text);
  const init = r.wire.frames.find((x) => x.role === 'init')!;
  const m = r.wire.frames.find((x) => x.role === 'reference-mask')!;
  assert.deepEqual([m.width, m.height], [init.width, init.height], 'same size as the init');
  const edge = Math.round((160 - sel.x) * m.width / sel.width);
  assert.deepEqual([m.payload[0], m.payload[edge - 2], m.payload[edge + 1], m.payload[m.width - 1]], [255, 255, 0, 0]);
  assert.equal(typeof r.wire.accepted.at(-1)!.inputs.referenceMasks?.[0], 'string');
  r.close();
});

test('a saved selection (alpha channel) as the region: read without changing the user\'s selection or history', async () => {
  const r = await rig();
  // "Right third": a saved selection of x ≥ 2/3 of the width; the user's current selection is elsewhere.
  r.doc.channels.push({ name: 'Right third', kind: 'selectedAreas', data: Float32Array.from({ length: SCENE.width * SCENE.height }, (_v, i) => (i % SCENE.width >= (SCENE.width * 2) / 3 ? 1 : 0)) });
  r.world.setSelection(r.doc, { x: 10, y: 10, width: 20, height: 20 });
  const before = r.doc.selection!.slice();
  const history = r.doc.history.length;
  r.ctl.update({ prompt: 'harbour', mode: 'canvas', seed: 5, steps: 3, reference: { ...styleRef(r.doc), mask: false, maskChannel: 'Right third' } });
  await r.ctl.generate();
  assert.equal(r.ctl.notice, null, r.ctl.notice?.text);
  const job = r.wire.jobs.at(-1)!;
  assert.deepEqual(job.references?.[0].mask, { source: 'frame' });
  const m = r.wire.frames.find((x) => x.role === 'reference-mask')!;
  const w = m.width;
  assert.deepEqual([m.payload[0], m.payload[Math.floor(w * 0.6)], m.payload[Math.floor(w * 0.7)], m.payload[w - 1]], [0, 0, 255, 255]);
  assert.equal(typeof r.wire.accepted.at(-1)!.inputs.referenceMasks?.[0], 'string');
  assert.deepEqual(Array.from(r.doc.selection!), Array.from(before), 'the user\'s selection is back');
  assert.deepEqual(r.doc.history.slice(history), ['Generate with IP-Adapter'], 'reading the channel left no history state');
  assert.equal(r.world.liveImageData, 0);
  // A channel that is gone: said plainly, nothing sent.
  const jobs = r.wire.jobs.length;
  r.ctl.update({ reference: { ...styleRef(r.doc), mask: false, maskChannel: 'Gone' } });
  await r.ctl.generate();
  assert.match(noticeText(r.ctl), /saved selection "Gone" selects nothing/);
  assert.equal(r.wire.jobs.length, jobs);
  r.close();
});

test('a reference layer without a layer mask, or one black over the area: the user is told, nothing is sent', async () => {
  const r = await rig();
  r.ctl.update({ prompt: 'harbour', mode: 'canvas', seed: 5, steps: 3, reference: styleRef(r.doc) });
  await r.ctl.generate();
  assert.match(r.ctl.notice?.text ?? '', /has no layer mask/);
  r.doc.byName('Style').userMask = new Float32Array(SCENE.width * SCENE.height);
  await r.ctl.generate();
  assert.match(r.ctl.notice?.text ?? '', /black over the whole generated area/);
  assert.equal(r.wire.jobs.length, 0);
  r.close();
});

test('SDXL checkpoint: the family offers its own adapters and controls, sizes the canvas to the nearest bucket and uses its defaults', async () => {
  const r = await rig();
  assert.equal(r.ctl.family()?.label, 'SD 1.5', 'the daemon default is the SD1.5 checkpoint');
  assert.deepEqual(r.ctl.adapters(), ['base', 'plus']);
  r.ctl.update({ checkpoint: SDXL_CHECKPOINT });
  const fam = r.ctl.family()!;
  assert.deepEqual([fam.label, fam.adapters, fam.controls], ['SDXL', ['base'], ['pose']]);
  assert.deepEqual(r.ctl.adapters(), ['base']);
  r.ctl.update({ prompt: 'harbour', mode: 'canvas', seed: 5, adapter: 'plus', reference: { ...styleRef(r.doc), mask: false } });
  await r.ctl.generate();
  assert.equal(r.ctl.notice, null, r.ctl.notice?.text);
  const job = r.wire.jobs.at(-1)!;
  // 320×240 (4:3) → 1152×896, SDXL's nearest bucket; steps/CFG/sampler untouched → SDXL's defaults.
  assert.deepEqual([job.checkpoint, job.width, job.height, job.steps, job.guidance, job.sampler], [SDXL_CHECKPOINT, 1152, 896, 30, 5, 'dpmpp-2m-karras']);
  assert.equal(job.references?.[0].adapter, 'base', 'plus has no SDXL model here');
  const [layer] = generated(r.doc);
  assert.deepEqual(layer.boundsNoEffects, { left: 0, top: 0, right: SCENE.width, bottom: SCENE.height }, 'scaled back to the canvas');
  const rec = parseRecord(JSON.parse(readXmpRecord(layer.xmp)!))!;
  assert.equal(rec.family, 'sdxl');
  // Steps set by hand stay.
  r.ctl.update({ steps: 4 });
  await r.ctl.generate();
  assert.equal(r.wire.jobs.at(-1)!.steps, 4);
  r.close();
});
