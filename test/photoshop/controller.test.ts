/**
 * The controller with the real UXP host over the in-memory Photoshop, the shared connection over `ws`,
 * and a REAL daemon (test engine): each mode end to end, no modal scope held while waiting on the
 * network, regenerate/variation from a layer's stored record in a fresh panel session ("after
 * reopening"), a connection cut mid-job (resumed, result inserted), cancel, a document closed while
 * generating, and the messages for what the user must fix.
 */
import assert from 'node:assert/strict';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import WebSocket from 'ws';
import { PENDING_KEY, type JobPhase } from '../../plugins/photoshop/src/controller.ts';
import { BridgeClient, type SocketLike } from '../../shared/protocol/client.ts';
import { parseRecord as parsePsRecord } from '../../shared/plugin/record.ts';
import { readXmpRecord } from '../../shared/plugin/xmp-record.ts';
import { useTestDaemon } from '../helpers/daemon.ts';
import { expectedColor } from '../helpers/test-engine.ts';
import { FakeWorld, type FakeDocument } from './fake-photoshop.ts';
import { addScene, SCENE, type SceneOptions } from './scene.ts';
import { MemoryStorage, openPanelSession, type PanelSession } from './controller-rig.ts';

const daemon = useTestDaemon({ stepMs: 15 });

interface Rig extends PanelSession {
  phases: JobPhase[];
  /** Set when the controller was seen waiting on the network inside a modal scope. */
  modalWhileWaiting: boolean;
  close(): void;
}

/** A panel session. Pass `world`/`storage` to reopen on the same document and settings. */
async function rig(o: { scene?: SceneOptions; world?: FakeWorld; storage?: MemoryStorage; port?: number } = {}): Promise<Rig> {
  const r = { phases: [] as JobPhase[], modalWhileWaiting: false };
  const session = await openPanelSession({
    daemon, client: 'ps-test', ...o,
    beforeConnect: ({ ctl, world }) => ctl.subscribe(() => {
      const p = ctl.job?.phase;
      if (p && r.phases[r.phases.length - 1] !== p) r.phases.push(p);
      if ((p === 'queued' || p === 'running' || p === 'reconnecting') && world.modalDepth > 0) r.modalWhileWaiting = true;
    }),
  });
  // Into `r` itself: the subscriber above writes there.
  return Object.assign(r, session, { close: () => session.conn.close() });
}

const generated = (doc: FakeDocument) => doc.all().filter((l) => l.name.startsWith('[IPA]'));
const to8 = (c: number[]): number[] => c.map((v) => Math.round(v * 255));
const near = (a: number[], b: readonly number[], tol: number, what: string): void => b.forEach((v, i) => assert.ok(Math.abs(a[i] - v) <= tol, `${what}: ${a} vs ${b}`));

test('whole canvas: text-only result scaled to the canvas, above the active layer, one history step', async () => {
  const r = await rig({ scene: { selection: false } });
  r.ctl.update({ prompt: 'red sneaker', mode: 'canvas', seed: 42, steps: 6 });
  const before = r.doc.history.length;
  await r.ctl.generate();
  assert.equal(r.ctl.notice, null, r.ctl.notice?.text);
  const [layer] = generated(r.doc);
  assert.equal(layer.name, '[IPA] 42 red sneaker');
  assert.equal(layer.parent?.name, 'Art');
  assert.equal(layer.siblings().indexOf(layer), 0);
  assert.deepEqual(layer.boundsNoEffects, { left: 0, top: 0, right: 320, bottom: 240 });
  near(to8(layer.pixel(0, 0)), [...expectedColor('red sneaker', 42), 255], 2, 'test engine colour at the origin');
  assert.deepEqual(r.doc.history.slice(before), ['Generate with IP-Adapter']);
  assert.deepEqual(r.phases.filter((p) => p !== 'queued'), ['reading', 'sending', 'running', 'inserting']);
  assert.equal(r.modalWhileWaiting, false, 'no modal scope held while waiting on the daemon');
  assert.equal(r.world.liveImageData, 0);
  assert.equal(r.ctl.results.length, 1);
  assert.equal(r.ctl.settings.lastSeed, 42);
  r.close();
});

test('img2img in a selection: only the selection\'s box, mixed with what was there', async () => {
  const r = await rig();
  r.ctl.update({ prompt: 'glass', mode: 'img2img', strength: 0.5, seed: 7, steps: 4 });
  await r.ctl.generate();
  assert.equal(r.ctl.notice, null, r.ctl.notice?.text);
  const [layer] = generated(r.doc);
  const sel = SCENE.selection;
  assert.deepEqual(layer.boundsNoEffects, { left: sel.x, top: sel.y, right: sel.x + sel.width, bottom: sel.y + sel.height });
  // Test engine: out = init·(1−s) + generated·s; the init there is the sketch colour.
  const gen = expectedColor('glass', 7);
  const want = SCENE.sketchColor.map((c, i) => c * 0.5 + gen[i] * 0.5);
  near(to8(layer.pixel(sel.x + 1, sel.y + 1)).slice(0, 1), want.slice(0, 1), 3, 'red mixed');
  r.close();
});

test('selection fill in a 16-bit Adobe RGB document, then regenerate and variation after reopening', async () => {
  const storage = new MemoryStorage();
  const first = await rig({ scene: { bitDepth: 16, profile: 'Adobe RGB (1998)' }, storage });
  first.ctl.update({
    prompt: 'moss', mode: 'inpaint', strength: 1, seed: 9, steps: 5,
    reference: { source: 'layer', layerId: first.doc.byName('Style').id, layerName: 'Style', fileName: '' },
    control: { layerId: first.doc.byName('Pose').id, layerName: 'Pose', start: 0, end: 0.6 },
  });
  await first.ctl.generate();
  assert.equal(first.ctl.notice, null, first.ctl.notice?.text);
  const [layer] = generated(first.doc);
  const sel = SCENE.selection;
  assert.equal(layer.pixel(sel.x - 2, sel.y + 30)[3], 0, 'outside the selection: transparent');
  assert.ok(layer.pixel(sel.x + 30, sel.y + 30)[3] > 0.999, 'inside: opaque');
  const rec = parsePsRecord(JSON.parse(readXmpRecord(layer.xmp)!))!;
  assert.equal(rec.seed, 9);
  assert.equal(rec.settings.reference.layerName, 'Style');
  assert.equal(rec.controls[0].range!.end, 0.6);
  first.close();

  // "Reopen": a new panel session, the selection gone, the generated layer selected.
  first.world.setSelection(first.doc, null);
  first.world.selectLayer(first.doc, layer.name);
  const again = await rig({ world: first.world, storage });
  await again.ctl.repeatSelected('regenerate');
  assert.equal(again.ctl.notice, null, again.ctl.notice?.text);
  const layers = generated(again.doc);
  assert.equal(layers.length, 2);
  const [redo] = layers;
  assert.equal(redo.siblings().indexOf(redo) + 1, redo.siblings().indexOf(layer), 'directly above the layer it regenerates');
  assert.equal(redo.name, layer.name);
  for (const [x, y] of [[sel.x + 30, sel.y + 30], [sel.x + 2, sel.y + 40], [sel.x + 100, sel.y + 80]]) {
    near(redo.pixel(x, y), layer.pixel(x, y), 1 / 255, `same seed, same pixels at ${x},${y}`);
  }
  await again.ctl.repeatSelected('variation');
  const vary = parsePsRecord(JSON.parse(readXmpRecord(generated(again.doc)[0].xmp)!))!;
  assert.equal(vary.seed, 9);
  assert.ok(vary.variation && vary.params.variationSeed === vary.variation.seed && vary.params.variationStrength === 0.25);
  // Load the layer's settings into the panel.
  again.ctl.update({ prompt: 'something else' });
  await again.ctl.loadFromSelected();
  assert.equal(again.ctl.settings.prompt, 'moss');
  assert.equal(again.ctl.settings.seed, 9);
  assert.equal(again.world.liveImageData, 0);
  again.close();
});

/** A TCP pass-through whose connections can be cut, to drop the WebSocket mid-job. */
async function cuttableProxy(target: number): Promise<{ port: number; cut(): void; close(): Promise<void> }> {
  const socks = new Set<Socket>();
  const server: Server = createServer((c) => {
    const u = tcpConnect(target, '127.0.0.1');
    for (const s of [c, u]) {
      socks.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        socks.delete(s);
        c.destroy();
        u.destroy();
      });
    }
    c.pipe(u);
    u.pipe(c);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    cut: () => {
      for (const s of socks) s.destroy();
    },
    close: () => new Promise((res) => {
      for (const s of socks) s.destroy();
      server.close(() => res());
    }),
  };
}

test('a connection cut mid-job: the panel reconnects, resumes the job and inserts the result', async () => {
  const proxy = await cuttableProxy(daemon.port);
  const r = await rig({ port: proxy.port, scene: { selection: false } });
  r.ctl.update({ prompt: 'storm', mode: 'canvas', seed: 5, steps: 40 });
  let cut = false;
  r.ctl.subscribe(() => {
    if (!cut && r.ctl.job?.phase === 'running' && r.ctl.job.step >= 3) {
      cut = true;
      proxy.cut();
    }
  });
  await r.ctl.generate();
  assert.ok(cut);
  assert.equal(r.ctl.notice, null, r.ctl.notice?.text);
  assert.ok(r.phases.includes('reconnecting'), r.phases.join(' → '));
  const [layer] = generated(r.doc);
  assert.equal(layer.name, '[IPA] 5 storm');
  near(to8(layer.pixel(0, 0)), [...expectedColor('storm', 5), 255], 2, 'the resumed result');
  r.close();
  await proxy.close();
});

test('cancel stops the job and leaves the document alone', async () => {
  const r = await rig({ scene: { selection: false } });
  r.ctl.update({ prompt: 'slow', mode: 'canvas', steps: 150 });
  r.ctl.subscribe(() => {
    if (r.ctl.job?.phase === 'running' && r.ctl.job.step === 2) r.ctl.cancel();
  });
  const before = r.doc.history.length;
  await r.ctl.generate();
  assert.equal(r.ctl.notice?.text, 'Cancelled.');
  assert.equal(generated(r.doc).length, 0);
  assert.equal(r.doc.history.length, before);
  assert.equal(r.ctl.job, null);
  r.close();
});

test('a document closed while generating: the result is kept and can be applied elsewhere', async () => {
  const r = await rig({ scene: { selection: false } });
  r.ctl.update({ prompt: 'late', mode: 'canvas', seed: 3, steps: 12 });
  const doc = r.doc;
  let closed = false;
  r.ctl.subscribe(() => {
    if (!closed && r.ctl.job?.phase === 'running') {
      closed = true;
      r.world.closeDocument(doc);
    }
  });
  await r.ctl.generate();
  assert.match(r.ctl.notice?.text ?? '', /closed while generating/);
  assert.equal(r.ctl.results.length, 1);
  const other = addScene(r.world, { title: 'other.psd', selection: true });
  await r.ctl.reapply(r.ctl.results[0].id);
  const [layer] = generated(other);
  const sel = SCENE.selection;
  assert.deepEqual(layer.boundsNoEffects, { left: sel.x, top: sel.y, right: sel.x + sel.width, bottom: sel.y + sel.height }, 'into the current selection');
  r.close();
});

test('what the user must fix is said plainly', async () => {
  const cmyk = await rig({ scene: { mode: 'CMYKColorMode' } });
  await cmyk.ctl.generate();
  assert.match(cmyk.ctl.notice!.text, /CMYK document.*Image › Mode › RGB Color/);
  cmyk.close();

  const r = await rig({ scene: { selection: false } });
  r.ctl.update({ mode: 'inpaint' });
  await r.ctl.generate();
  assert.match(r.ctl.notice!.text, /needs a selection/);
  r.ctl.update({ mode: 'canvas', reference: { source: 'layer', layerId: 99999, layerName: 'Gone', fileName: '' } });
  await r.ctl.generate();
  assert.match(r.ctl.notice!.text, /"Gone" is not in this document/);
  r.ctl.update({ reference: { source: 'file', layerId: null, layerName: '', fileName: 'style.jpg' } });
  await r.ctl.generate();
  assert.match(r.ctl.notice!.text, /Pick the reference image "style.jpg" again/);
  r.world.selectLayer(r.doc, 'Sketch');
  await r.ctl.repeatSelected('regenerate');
  assert.match(r.ctl.notice!.text, /not generated by this panel/);
  r.close();

  const offline = await rig();
  offline.conn.close();
  await offline.ctl.generate();
  assert.match(offline.ctl.notice!.text, /Not connected/);
});

test('a file reference is sent encoded; a picked non-image is refused', async () => {
  const r = await rig({ scene: { selection: false } });
  const sharp = (await import('sharp')).default;
  const png = new Uint8Array(await sharp({ create: { width: 32, height: 32, channels: 4, background: '#ff8800' } }).png().toBuffer());
  r.world.nextFile = { name: 'orange.png', bytes: png };
  await r.ctl.pickReferenceFile();
  assert.equal(r.ctl.settings.reference.source, 'file');
  r.ctl.update({ prompt: 'tinted', mode: 'canvas', seed: 11, steps: 3, referenceScale: 1 });
  await r.ctl.generate();
  assert.equal(r.ctl.notice, null, r.ctl.notice?.text);
  const [layer] = generated(r.doc);
  // The test engine tints blue by the reference scale (+40 per 1.0).
  const base = expectedColor('tinted', 11);
  near(to8(layer.pixel(0, 0)).slice(2, 3), [Math.min(255, base[2] + 40)], 2, 'reference tint');
  r.world.nextFile = { name: 'notes.txt', bytes: new TextEncoder().encode('hello world') };
  await r.ctl.pickReferenceFile();
  assert.match(r.ctl.notice!.text, /not a PNG or JPEG/);
  r.close();
});

test('cancel while waiting for a lost connection does not hang', async () => {
  const r = await rig({ scene: { selection: false } });
  r.ctl.update({ prompt: 'orphan', mode: 'canvas', steps: 100 });
  r.ctl.subscribe(() => {
    if (r.ctl.job?.phase === 'running' && r.conn.state.phase === 'connected') r.conn.close(); // e.g. "Forget pairing token"
    if (r.ctl.job?.phase === 'reconnecting') r.ctl.cancel();
  });
  await r.ctl.generate();
  assert.equal(r.ctl.notice?.text, 'Cancelled.');
  assert.equal(r.ctl.job, null);
});

test('a job left running by a closed panel comes back as a result in the next session', async () => {
  // The "old panel": submits, then disappears without a goodbye.
  const ws = new WebSocket(`ws://127.0.0.1:${daemon.port}/?token=${daemon.token}`, { perMessageDeflate: false });
  const old = new BridgeClient(ws as unknown as SocketLike, { name: 'old-panel', version: '0' });
  const accepted = new Promise<void>((resolve) => {
    void old.submit({ type: 'job', jobId: 'ps-reload-test-1', prompt: 'after reload', seed: 77, steps: 20, width: 64, height: 64, output: { format: 'raw-rgba8' } }, {}, { onAccepted: () => resolve() }).catch(() => undefined);
  });
  await accepted;
  ws.terminate();
  const storage = new MemoryStorage();
  storage.setItem(PENDING_KEY, JSON.stringify([{ jobId: 'ps-reload-test-1', docId: 1, region: { x: 0, y: 0, width: 320, height: 240 }, prompt: 'after reload', seed: 77, at: Date.now() }]));
  const r = await rig({ scene: { selection: false }, storage });
  await r.ctl.resumePending();
  assert.equal(r.ctl.results.length, 1);
  assert.equal(r.ctl.results[0].seed, 77);
  assert.match(r.ctl.notice!.text, /before the panel restarted/);
  assert.equal(storage.getItem(PENDING_KEY), null);
  await r.ctl.reapply(r.ctl.results[0].id);
  const [layer] = generated(r.doc);
  assert.equal(layer.name, '[IPA] 77 after reload');
  near(to8(layer.pixel(0, 0)), [...expectedColor('after reload', 77), 255], 3, 'the old job\'s image');
  r.close();
});
