/**
 * Photoshop live mode (plugins/photoshop/src/live.ts) with the real UXP host over the in-memory
 * Photoshop and a REAL daemon (test engine): the fake fires Photoshop's notifications for the user's
 * brush strokes, selections and layer changes; bursts are debounced into one job; an edit while a job
 * runs cancels it; the panel's own reads and live-layer writes do not count as edits; the live layer is
 * replaced in place; Apply is one history step; the seed stays fixed; the unchanged style layer goes by
 * hash.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { PanelController } from '../../plugins/photoshop/src/controller.ts';
import { createUxpHost, type PsHost } from '../../plugins/photoshop/src/host.ts';
import { LIVE_HISTORY_NAME, LIVE_LAYER_NAME, PsLiveMode } from '../../plugins/photoshop/src/live.ts';
import type { SocketLike } from '../../shared/protocol/client.ts';
import type { JobMessage } from '../../shared/protocol/messages.ts';
import { BridgeConnection } from '../../shared/plugin/connection.ts';
import { readXmpRecord } from '../../shared/plugin/xmp-record.ts';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { FakeWorld, type FakeDocument } from './fake-photoshop.ts';
import { addScene, SCENE } from './scene.ts';

let daemon: TestDaemon;

before(async () => {
  daemon = await startTestDaemon({ stepMs: 25 });
});

after(async () => {
  await daemon.stop();
});

class MemoryStorage {
  private readonly m = new Map<string, string>();
  getItem(k: string): string | null {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    this.m.set(k, v);
  }
  removeItem(k: string): void {
    this.m.delete(k);
  }
}

interface Rig {
  world: FakeWorld;
  doc: FakeDocument;
  ctl: PanelController;
  live: PsLiveMode;
  jobs: JobMessage[];
  frames: number;
  close(): void;
}

async function rig(debounceMs = 80): Promise<Rig> {
  const world = new FakeWorld();
  const doc = addScene(world);
  const base = createUxpHost(world.photoshop(), world.uxp(), { localStorage: new MemoryStorage() as unknown as Storage });
  const r = { jobs: [] as JobMessage[], frames: 0 };
  const host: PsHost = {
    ...base,
    openSocket: (url) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      const send = ws.send.bind(ws);
      ws.send = ((data: unknown, options?: unknown, cb?: unknown) => {
        if (typeof data === 'string') {
          const m = JSON.parse(data) as JobMessage;
          if (m.type === 'job') r.jobs.push(m);
        } else r.frames++;
        (send as (d: unknown, o?: unknown, c?: unknown) => void)(data, options, cb);
      }) as typeof ws.send;
      return ws as unknown as SocketLike;
    },
    probe: async () => false,
    imageUrl: () => 'blob:test',
    releaseImageUrl: () => undefined,
  };
  const conn = new BridgeConnection({
    openSocket: host.openSocket, probe: host.probe, setTimer: (fn, ms) => setTimeout(fn, ms), clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
    random: Math.random, now: Date.now, client: { name: 'ps-live-test', version: '0' }, backoff: { baseMs: 100, capMs: 400, jitter: 0 },
  });
  const ctl = new PanelController({ host, connection: conn });
  const live = new PsLiveMode(ctl, host, conn, { debounceMs });
  conn.configure({ token: daemon.token, port: daemon.port, host: '127.0.0.1' });
  await conn.whenConnected();
  return Object.assign(r, { world, doc, ctl, live, close: () => { live.stop(); conn.close(); } });
}

async function waitFor<T>(fn: () => T, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v as NonNullable<T>;
    assert.ok(Date.now() < deadline, `timed out waiting for ${fn}`);
    await new Promise((res) => setTimeout(res, 10));
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const red = [0.9, 0.1, 0.1, 1] as [number, number, number, number];

test('live: strokes debounced into one job; img2img at the live strength with the Live preset; fixed seed; style layer by hash', async () => {
  const r = await rig();
  r.ctl.update({ prompt: 'live fox', liveStrength: 0.4, reference: { source: 'layer', layerId: r.doc.byName('Style').id, layerName: 'Style', fileName: '' } });
  r.live.start();
  await waitFor(() => r.live.view.stats.results === 1);
  const first = r.jobs[0];
  assert.equal(first.strength, 0.4);
  assert.equal(first.draftDecode, true);
  assert.equal(first.init?.source, 'frame', 'the whole canvas became img2img');
  assert.equal(first.seed, r.live.view.seed);
  assert.match(r.live.view.model, /8 steps/, 'no few-step model on the test daemon: the standard model at 8 steps');
  assert.match(r.live.view.note ?? '', /No few-step model/);
  const framesAfterFirst = r.frames;

  await sleep(100);
  for (let i = 0; i < 5; i++) {
    r.world.userPaint(r.doc, 'Sketch', { x: 60 + i * 10, y: 60, width: 10, height: 10 }, red);
    await sleep(15);
  }
  await waitFor(() => r.live.view.stats.results === 2);
  await sleep(200);
  assert.equal(r.jobs.length, 2, 'five strokes → one job');
  assert.equal(r.jobs[1].seed, first.seed, 'the seed stays fixed while live');
  assert.equal(r.jobs[1].references?.[0].source, 'hash', 'the unchanged style layer went by hash');
  assert.equal(r.frames - framesAfterFirst, 1, 'only the edited canvas was sent again');
  assert.equal(r.live.view.stats.maxInFlight, 1);
  r.close();
});

test('live: an edit while a job runs cancels it; a selection change and a layer switch are edits; the panel\'s own reads are not', async () => {
  const r = await rig(40);
  r.ctl.update({ prompt: 'slow', steps: 30 }); // the no-few-step Live recipe runs 8 steps; strength 0.5 → enough to edit during
  r.live.start();
  await waitFor(() => r.live.view.stats.results === 1);
  await sleep(400);
  assert.equal(r.jobs.length, 1, 'reading the document and showing the result started nothing');
  r.world.userSelect(r.doc, { x: 20, y: 20, width: 100, height: 80 });
  await waitFor(() => r.jobs.length === 2 && r.live.view.phase === 'running' && r.live.view.step >= 1);
  r.world.selectLayer(r.doc, 'Background');
  await waitFor(() => r.live.view.stats.results === 2);
  assert.equal(r.jobs.length, 3);
  assert.equal(r.live.view.stats.cancelled, 1, 'the job running when the layer switch came was cancelled');
  r.close();
});

test('live layer: written once, replaced in place per result, left out of the next job\'s init; Apply is one history step', async () => {
  const r = await rig(40);
  r.ctl.update({ prompt: 'layered', liveLayer: true });
  r.live.start();
  await waitFor(() => r.live.view.stats.results === 1);
  await waitFor(() => r.doc.all().some((l) => l.name === LIVE_LAYER_NAME));
  const layer = r.doc.all().find((l) => l.name === LIVE_LAYER_NAME)!;
  await sleep(100);
  r.world.userPaint(r.doc, 'Sketch', { x: 100, y: 100, width: 20, height: 20 }, red);
  await waitFor(() => r.live.view.stats.results === 2);
  await sleep(100);
  const live = r.doc.all().filter((l) => l.name === LIVE_LAYER_NAME);
  assert.equal(live.length, 1, 'one live layer');
  assert.equal(live[0].id, layer.id, 'updated in place');
  assert.ok(r.doc.history.filter((h) => h === LIVE_HISTORY_NAME).length >= 1);
  assert.equal(r.jobs.length, 2, 'writing the live layer is not an edit');

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
