/**
 * The real UXP host (host.ts) over the in-memory Photoshop: reading at 8-bit sRGB from 8/16/32-bit and
 * non-sRGB documents (whether or not the host converts), pyramid reads, trimmed layer reads, the
 * selection, insertion position/naming/history, records in layer XMP, modal discipline, dispose.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createUxpHost, type PsHost } from '../../plugins/photoshop/src/host.ts';
import { documentProblem } from '../../plugins/photoshop/src/capture.ts';
import { HISTORY_NAME } from '../../plugins/photoshop/src/results.ts';
import type { Rgba8 } from '../../shared/plugin/raster.ts';
import { FakeWorld, type FakeOptions } from './fake-photoshop.ts';
import { addScene, SCENE, type SceneOptions } from './scene.ts';

function setup(scene: SceneOptions = {}, opts: FakeOptions = {}, stripePixels?: number): { world: FakeWorld; host: PsHost; doc: ReturnType<typeof addScene> } {
  const world = new FakeWorld(opts);
  const doc = addScene(world, scene);
  const host = createUxpHost(world.photoshop(), world.uxp(), { localStorage: undefined, stripePixels });
  return { world, host, doc };
}

const px = (img: Rgba8, x: number, y: number): number[] => Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4));
const near = (a: number[], b: readonly number[], tol: number, what: string): void => b.forEach((v, i) => assert.ok(Math.abs(a[i] - v) <= tol, `${what}: ${a} vs ${b}`));

test('document info, layers (top to bottom, groups nested), active layer, selection bounds', async () => {
  const { host, doc } = setup({ bitDepth: 16, profile: 'Adobe RGB (1998)' });
  const info = host.activeDocument()!;
  assert.deepEqual(info, { id: doc.id, title: 'scene.psd', width: 320, height: 240, mode: 'rgb', bitDepth: 16, profile: 'Adobe RGB (1998)' });
  const layers = host.layers(doc.id);
  assert.deepEqual(layers.map((l) => [l.name, l.depth, l.kind]), [['Style', 0, 'pixel'], ['Pose', 0, 'pixel'], ['Art', 0, 'group'], ['Sketch', 1, 'pixel'], ['Background', 0, 'pixel']]);
  assert.deepEqual(layers.find((l) => l.name === 'Pose')!.bounds, { x: 140, y: 70, width: 40, height: 80 });
  assert.ok(layers.find((l) => l.name === 'Background')!.isBackground);
  assert.deepEqual(host.activeLayerIds(doc.id), [doc.byName('Sketch').id]);
  assert.deepEqual(await host.selectionBounds(doc.id), { x: 100, y: 60, width: 120, height: 90 });
  const noSel = setup({ selection: false });
  assert.equal(await noSel.host.selectionBounds(noSel.doc.id), null);
});

for (const variant of [
  { name: '8-bit sRGB', scene: { bitDepth: 8, profile: 'sRGB IEC61966-2.1' } },
  { name: '16-bit Adobe RGB', scene: { bitDepth: 16, profile: 'Adobe RGB (1998)' } },
  { name: '32-bit linear ProPhoto', scene: { bitDepth: 32, profile: 'ProPhoto RGB' } },
  { name: '16-bit Display P3', scene: { bitDepth: 16, profile: 'Display P3' } },
] as const) {
  for (const convertsOnRead of [true, false]) {
    test(`reads 8-bit sRGB from a ${variant.name} document (host ${convertsOnRead ? 'converts' : 'returns native data'})`, async () => {
      const { world, host, doc } = setup(variant.scene, { convertsOnRead });
      const region = { x: 40, y: 20, width: 160, height: 120 };
      const read = await host.modal('read', (s) => s.readComposite(doc.id, region, { width: 160, height: 120 }));
      assert.ok(read);
      assert.deepEqual(read.doc, region);
      assert.equal(read.colorNote, undefined);
      near(px(read.image, 60, 40), [...SCENE.sketchColor, 255], 2, 'sketch colour');
      near(px(read.image, 0, 0), [Math.round((40 / 320) * 255), 128, 64, 255], 2, 'background');
      assert.equal(world.liveImageData, 0, 'every imageData disposed');
    });
  }
}

test('scaled reads come from a pyramid level and map back to document pixels', async () => {
  const { host, doc } = setup();
  const read = await host.modal('read', (s) => s.readComposite(doc.id, { x: 0, y: 0, width: 320, height: 240 }, { width: 80, height: 60 }));
  assert.equal(read!.image.width, 80);
  assert.deepEqual(read!.doc, { x: 0, y: 0, width: 320, height: 240 });
  near(px(read!.image, 40, 30), [...SCENE.sketchColor, 255], 2, 'sketch');
});

test('layer reads are trimmed to the layer and report where they are', async () => {
  const { host, doc } = setup({ bitDepth: 16 });
  const pose = doc.byName('Pose');
  const full = await host.modal('read', (s) => s.readLayer(doc.id, pose.id, { x: 100, y: 50, width: 200, height: 150 }, null));
  assert.deepEqual(full!.doc, { x: 140, y: 70, width: 40, height: 80 });
  assert.deepEqual(px(full!.image, 0, 0), [0, 0, 0, 0]);
  near(px(full!.image, 20, 40), [255, 0, 85, 255], 2, 'spine');
  // At half scale the size halves, the document rect does not.
  const half = await host.modal('read', (s) => s.readLayer(doc.id, pose.id, { x: 100, y: 50, width: 200, height: 150 }, { width: 100, height: 75 }));
  assert.deepEqual([half!.image.width, half!.image.height], [20, 40]);
  assert.deepEqual(half!.doc, { x: 140, y: 70, width: 40, height: 80 });
  // Outside the layer: nothing.
  assert.equal(await host.modal('read', (s) => s.readLayer(doc.id, pose.id, { x: 0, y: 0, width: 50, height: 50 }, null)), null);
  await assert.rejects(host.modal('read', (s) => s.readLayer(doc.id, 99999, null, null)), /no longer exists/);
});

test('the selection reads as an 8-bit mask with its feathering, in 16-bit documents too', async () => {
  const { host, doc, world } = setup({ bitDepth: 16 });
  const sel = await host.modal('read', (s) => s.readSelection(doc.id, { x: 80, y: 40, width: 160, height: 130 }));
  assert.ok(sel);
  assert.deepEqual(sel.doc, { x: 80, y: 40, width: 160, height: 130 });
  const at = (x: number, y: number): number => sel.mask.data[(y - 40) * 160 + (x - 80)];
  assert.equal(at(99, 100), 0);
  assert.equal(at(100, 100), 64); // 1/4 of the 4 px feather
  assert.equal(at(110, 100), 255);
  assert.equal(world.liveImageData, 0);
  const none = setup({ selection: false });
  assert.equal(await none.host.modal('read', (s) => s.readSelection(none.doc.id, { x: 0, y: 0, width: 10, height: 10 })), null);
});

test('a composite read can leave layers out, with no trace in the history', async () => {
  const { host, doc } = setup();
  const sketch = doc.byName('Sketch');
  const before = doc.history.length;
  const read = await host.modal('read', (s) => s.readComposite(doc.id, { x: 100, y: 100, width: 10, height: 10 }, { width: 10, height: 10 }, [sketch.id]));
  near(px(read!.image, 0, 0), [Math.round((100 / 320) * 255), 128, 64, 255], 2, 'background shows through');
  assert.equal(sketch.visible, true);
  assert.equal(doc.history.length, before);
});

test('insertion: a new layer directly above the source (inside its group), pixels at the target, one history step, the record in its XMP', async () => {
  for (const scene of [{ bitDepth: 8 }, { bitDepth: 16, profile: 'Adobe RGB (1998)' }, { bitDepth: 32, profile: 'ProPhoto RGB' }] as const) {
    // Small stripes (3 rows of 20 px): the write is split into several putPixels, still one history step.
    const { host, doc, world } = setup(scene, {}, 60);
    const sketch = doc.byName('Sketch');
    const image: Rgba8 = { width: 20, height: 10, data: new Uint8Array(800) };
    for (let i = 0; i < 200; i++) image.data.set([255, 0, 0, i < 100 ? 255 : 0], i * 4);
    const historyBefore = doc.history.length;
    const id = await host.modal('insert', (s) => s.insertLayer({ docId: doc.id, aboveLayerId: sketch.id, name: '[IPA] 42 red', image, area: { x: 30, y: 20, width: 20, height: 10 }, alpha: null, record: '{"hello":"world"}' }), { docId: doc.id, name: HISTORY_NAME });
    const art = doc.byName('Art');
    assert.deepEqual(art.layers!.map((l) => l.name), ['[IPA] 42 red', 'Sketch'], `${scene.bitDepth}-bit`);
    assert.equal(doc.byId(id)!.name, '[IPA] 42 red');
    assert.deepEqual(doc.history.slice(historyBefore), [HISTORY_NAME]);
    assert.equal(await host.readLayerRecord(doc.id, id), '{"hello":"world"}');
    // Read back through the host: sRGB red where painted, transparent below, nothing outside.
    const back = await host.modal('read', (s) => s.readLayer(doc.id, id, null, null));
    assert.deepEqual(back!.doc, { x: 30, y: 20, width: 20, height: 5 });
    near(px(back!.image, 5, 2), [255, 0, 0, 255], 1, `${scene.bitDepth}-bit red`);
    const stored = doc.byId(id)!.pixel(35, 22);
    if (scene.bitDepth === 16) assert.ok(stored.every((v) => Math.abs(v * 32768 - Math.round(v * 32768)) < 1e-6), '16-bit quantised');
    assert.equal(world.liveImageData, 0);
  }
});

test('a failed write leaves no history and no layer behind', async () => {
  const { host, doc } = setup();
  const before = doc.all().length;
  await assert.rejects(host.modal('insert', async (s) => {
    await s.insertLayer({ docId: doc.id, aboveLayerId: null, name: 'x', image: { width: 1, height: 1, data: new Uint8Array(4) }, area: { x: 0, y: 0, width: 1, height: 1 }, alpha: null });
    throw new Error('boom');
  }, { docId: doc.id, name: HISTORY_NAME }), /boom/);
  assert.equal(doc.all().length, before);
  assert.ok(!doc.history.includes(HISTORY_NAME));
});

test('modal discipline: one scope at a time, a scope is dead after its function', async () => {
  const { host, doc, world } = setup();
  let kept: Parameters<Parameters<PsHost['modal']>[1]>[0] | null = null;
  await host.modal('a', async (s) => {
    kept = s;
    await assert.rejects(host.modal('nested', async () => 1), /another modal scope/);
  });
  await assert.rejects(kept!.readComposite(doc.id, { x: 0, y: 0, width: 1, height: 1 }, { width: 1, height: 1 }), /after it ended/);
  assert.throws(() => { doc.byName('Sketch').visible = false; }, /outside executeAsModal/);
  assert.equal(world.modalDepth, 0);
});

test('colour modes other than RGB get a clear way out', () => {
  for (const mode of ['CMYKColorMode', 'labColorMode', 'grayscaleMode', 'indexedColorMode']) {
    const { host } = setup({ mode });
    const info = host.activeDocument()!;
    const msg = documentProblem(info);
    assert.ok(msg && /RGB Color/.test(msg), `${mode}: ${msg}`);
  }
  assert.equal(documentProblem(setup().host.activeDocument()!), null);
});

test('secrets and files through the uxp module', async () => {
  const { host, world } = setup();
  assert.equal(await host.loadSecret('t'), null);
  await host.saveSecret('t', 'abc123');
  assert.equal(await host.loadSecret('t'), 'abc123');
  await host.saveSecret('t', null);
  assert.equal(await host.loadSecret('t'), null);
  world.nextFile = { name: 'style.png', bytes: Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4, 5) };
  const f = await host.pickImageFile();
  assert.equal(f!.name, 'style.png');
  assert.deepEqual(Array.from(f!.bytes.subarray(0, 4)), [0x89, 0x50, 0x4e, 0x47]);
});
