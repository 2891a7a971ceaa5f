/**
 * Photoshop live mode (plugins/photoshop/src/live.ts) with the real UXP host over the in-memory
 * Photoshop and a REAL daemon (test engine): the fake fires Photoshop's notifications for the user's
 * brush strokes, selections and layer changes; bursts are debounced into one job; an edit while a job
 * runs cancels it; the panel's own reads and live-layer writes do not count as edits; the live layer is
 * replaced in place; Apply is one history step; the seed stays fixed; the unchanged style layer goes by
 * hash.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LIVE_HISTORY_NAME, LIVE_LAYER_NAME, PsLiveMode } from '../../plugins/photoshop/src/live.ts';
import { readXmpRecord } from '../../shared/plugin/xmp-record.ts';
import { useTestDaemon } from '../helpers/daemon.ts';
import { emptyWire, spySocket, type Wire } from '../helpers/socket-spy.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { openPanelSession, type PanelSession } from './controller-rig.ts';
import { SCENE } from './scene.ts';

const daemon = useTestDaemon({ stepMs: 25 });

interface Rig extends PanelSession {
  live: PsLiveMode;
  wire: Wire;
  close(): void;
}

async function rig(debounceMs = 80): Promise<Rig> {
  const wire = emptyWire();
  let live: PsLiveMode | undefined;
  const session = await openPanelSession({
    daemon, client: 'ps-live-test',
    openSocket: (url) => spySocket(url, wire),
    // Live mode watches the connection from its start, as in the panel.
    beforeConnect: ({ ctl, host, conn }) => void (live = new PsLiveMode(ctl, host, conn, { debounceMs })),
  });
  const started = live!;
  return Object.assign(session, { live: started, wire, close: () => { started.stop(); session.conn.close(); } });
}

/** Live results here wait on a debounce and a daemon job each: a longer time-out than the helpers' default. */
const waitForLive = <T>(fn: () => T): Promise<NonNullable<T>> => waitFor(fn, 20_000);

const red = [0.9, 0.1, 0.1, 1] as [number, number, number, number];

test('live: strokes debounced into one job; img2img at the live strength with the Live preset; fixed seed; style layer by hash', async () => {
  const r = await rig();
  r.ctl.update({ prompt: 'live fox', liveStrength: 0.4, reference: { source: 'layer', layerId: r.doc.byName('Style').id, layerName: 'Style', fileName: '' } });
  r.live.start();
  await waitForLive(() => r.live.view.stats.results === 1);
  const first = r.wire.jobs[0];
  assert.equal(first.strength, 0.4);
  assert.equal(first.draftDecode, true);
  assert.equal(first.init?.source, 'frame', 'the whole canvas became img2img');
  assert.equal(first.seed, r.live.view.seed);
  assert.match(r.live.view.model, /8 steps/, 'no few-step model on the test daemon: the standard model at 8 steps');
  assert.match(r.live.view.note ?? '', /No few-step model/);
  const framesAfterFirst = r.wire.frames.length;

  await sleep(100);
  for (let i = 0; i < 5; i++) {
    r.world.userPaint(r.doc, 'Sketch', { x: 60 + i * 10, y: 60, width: 10, height: 10 }, red);
    await sleep(15);
  }
  await waitForLive(() => r.live.view.stats.results === 2);
  await sleep(200);
  assert.equal(r.wire.jobs.length, 2, 'five strokes → one job');
  assert.equal(r.wire.jobs[1].seed, first.seed, 'the seed stays fixed while live');
  assert.equal(r.wire.jobs[1].references?.[0].source, 'hash', 'the unchanged style layer went by hash');
  assert.equal(r.wire.frames.length - framesAfterFirst, 1, 'only the edited canvas was sent again');
  assert.equal(r.live.view.stats.maxInFlight, 1);
  r.close();
});

test('live: an edit while a job runs cancels it; a selection change and a layer switch are edits; the panel\'s own reads are not', async () => {
  const r = await rig(40);
  r.ctl.update({ prompt: 'slow', steps: 30 }); // the no-few-step Live recipe runs 8 steps; strength 0.5 → enough to edit during
  r.live.start();
  await waitForLive(() => r.live.view.stats.results === 1);
  await sleep(400);
  assert.equal(r.wire.jobs.length, 1, 'reading the document and showing the result started nothing');
  r.world.userSelect(r.doc, { x: 20, y: 20, width: 100, height: 80 });
  await waitForLive(() => r.wire.jobs.length === 2 && r.live.view.phase === 'running' && r.live.view.step >= 1);
  r.world.selectLayer(r.doc, 'Background');
  await waitForLive(() => r.live.view.stats.results === 2);
  assert.equal(r.wire.jobs.length, 3);
  assert.equal(r.live.view.stats.cancelled, 1, 'the job running when the layer switch came was cancelled');
  r.close();
});

test('live layer: written once, replaced in place per result, left out of the next job\'s init; Apply is one history step', async () => {
  const r = await rig(40);
  r.ctl.update({ prompt: 'layered', liveLayer: true });
  r.live.start();
  await waitForLive(() => r.live.view.stats.results === 1);
  await waitForLive(() => r.doc.all().some((l) => l.name === LIVE_LAYER_NAME));
  const layer = r.doc.all().find((l) => l.name === LIVE_LAYER_NAME)!;
  await sleep(100);
  r.world.userPaint(r.doc, 'Sketch', { x: 100, y: 100, width: 20, height: 20 }, red);
  await waitForLive(() => r.live.view.stats.results === 2);
  await sleep(100);
  const live = r.doc.all().filter((l) => l.name === LIVE_LAYER_NAME);
  assert.equal(live.length, 1, 'one live layer');
  assert.equal(live[0].id, layer.id, 'updated in place');
  assert.ok(r.doc.history.filter((h) => h === LIVE_HISTORY_NAME).length >= 1);
  assert.equal(r.wire.jobs.length, 2, 'writing the live layer is not an edit');

  const before = r.doc.history.length;
  await r.live.apply();
  assert.deepEqual(r.doc.history.slice(before), ['Generate with IP-Adapter'], 'apply: one history step');
  assert.match(layer.name, /^\[IPA\] \d+ layered/);
  const record = readXmpRecord(layer.xmp ?? '');
  assert.ok(record && record.includes('"draftDecode":true'), 'the applied layer keeps its record');
  assert.equal(r.ctl.results.length, 1, 'and joins the results list');
  assert.ok(SCENE.width > 0);
  r.close();
});
