/**
 * The Figma sandbox against a fake `figma` (test/figma/fake-figma.ts) whose exportAsync returns real PNG
 * bytes (sharp): init, storage, roles, exports under the pixel budget, fill/beside insertion, records,
 * regenerate/variation sources and the error answers.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import sharp from 'sharp';
import { DEFAULT_SETTINGS, type GenerationSettings } from '../../shared/plugin/settings.ts';
import type { GenerationRecord } from '../../shared/plugin/record.ts';
import type { ExportBudgetSpec, ResultImage, SandboxMessage, UiMessage } from '../../plugins/figma/src/messages.ts';
import { startSandbox, type SandboxHandle } from '../../plugins/figma/src/sandbox.ts';
import { KEY_PAINT, KEY_RECORD, KEY_ROLE, KEY_ROLE_INDEX, KEY_SOURCE, STORAGE_CONNECTION } from '../../plugins/figma/src/store.ts';
import { FakeFigma, FakePage, IMAGE_MARKER, type FakeNode } from './fake-figma.ts';

const BUDGET: ExportBudgetSpec = { maxPixels: 1024 * 1024, maxSide: 4096, referenceMaxSide: 1024 };
const RED = { r: 1, g: 0, b: 0 };
const BLUE = { r: 0, g: 0, b: 1 };
const GREEN = { r: 0, g: 1, b: 0 };

let figma: FakeFigma;
let sb: SandboxHandle;

beforeEach(() => {
  figma = new FakeFigma();
  sb = startSandbox(figma.asApi(), '<html>ui</html>');
});

function last<T extends SandboxMessage['type']>(type: T): Extract<SandboxMessage, { type: T }> {
  const m = [...figma.posted].reverse().find((x) => (x as SandboxMessage).type === type);
  assert.ok(m, `no ${type} message posted; got ${figma.posted.map((x) => (x as SandboxMessage).type).join(', ')}`);
  return m as Extract<SandboxMessage, { type: T }>;
}

async function send(m: UiMessage): Promise<void> {
  await sb.handle(structuredClone(m));
}

async function pngInfo(bytes: Uint8Array): Promise<{ width: number; height: number; rgb: number[] }> {
  const img = sharp(bytes);
  const meta = await img.metadata();
  assert.equal(meta.format, 'png');
  const { data } = await img.raw().toBuffer({ resolveWithObject: true });
  return { width: meta.width!, height: meta.height!, rgb: [data[0], data[1], data[2]] };
}

async function solidPng(width: number, height: number, rgb: [number, number, number]): Promise<Uint8Array> {
  return new Uint8Array(await sharp({ create: { width, height, channels: 4, background: { r: rgb[0], g: rgb[1], b: rgb[2], alpha: 1 } } }).png().toBuffer());
}

function record(seed: number, settings: Partial<GenerationSettings> = {}, index = 0): GenerationRecord {
  const s = { ...DEFAULT_SETTINGS, prompt: 'a red sneaker', ...settings, seed };
  return {
    v: 2, app: 'ipa-bridge', settings: s, seed, index, jobId: 'figma-test', engine: 'test', createdAt: '2026-01-01T00:00:00.000Z',
    params: { prompt: s.prompt, negativePrompt: s.negativePrompt, seed, steps: s.steps, sampler: s.sampler, guidance: s.guidance, width: 512, height: 512, strength: s.strength, batchSize: 1, clipSkip: 1 },
    models: {}, references: [], controls: [],
  };
}

async function results(n: number, seed0: number, size = 64): Promise<ResultImage[]> {
  const out: ResultImage[] = [];
  for (let i = 0; i < n; i++) out.push({ bytes: await solidPng(size, size, [(seed0 + i) % 256, 100, 200]), width: size, height: size, record: record(seed0 + i, {}, i) });
  return out;
}

describe('figma sandbox', () => {
  test('shows the UI with theme colours and answers ready with stored settings, selection and roles', async () => {
    assert.equal(figma.shownUI?.html, '<html>ui</html>');
    assert.equal(figma.shownUI?.options?.themeColors, true);
    const frame = figma.add('FRAME', 'Hero', { x: 0, y: 0, width: 1440, height: 900 }, RED);
    figma.select(frame);
    await send({ type: 'save-connection', connection: { port: 41999, token: '  abc123  ' } });
    await send({ type: 'save-settings', settings: { ...DEFAULT_SETTINGS, prompt: 'hello', steps: 9 }, placement: 'beside' });
    assert.deepEqual(figma.storage.get(STORAGE_CONNECTION), { port: 41999, token: 'abc123' });
    await send({ type: 'ready' });
    const init = last('init');
    assert.deepEqual(init.connection, { port: 41999, token: 'abc123' });
    assert.equal(init.settings.prompt, 'hello');
    assert.equal(init.settings.steps, 9);
    assert.equal(init.placement, 'beside');
    assert.equal(init.selection.target?.name, 'Hero');
    assert.equal(init.selection.target?.canFill, true);
    assert.deepEqual(init.roles, []);
  });

  test('ready with nothing stored gives defaults and no token', async () => {
    await send({ type: 'ready' });
    const init = last('init');
    assert.equal(init.connection.token, '');
    assert.equal(init.connection.port, 41872);
    assert.deepEqual(init.settings, DEFAULT_SETTINGS);
    assert.equal(init.placement, 'fill');
    assert.equal(init.selection.target, null);
    assert.match(init.selection.hint ?? '', /Select a frame/);
  });

  test('selection changes are pushed; groups cannot take fills, several nodes give a hint', () => {
    const a = figma.add('FRAME', 'A', { x: 0, y: 0, width: 10, height: 10 });
    const g = figma.add('GROUP', 'G', { x: 0, y: 0, width: 10, height: 10 });
    figma.select(g);
    let s = last('selection').selection;
    assert.equal(s.target?.canFill, false);
    figma.select(a, g);
    s = last('selection').selection;
    assert.equal(s.target, null);
    assert.equal(s.count, 2);
    assert.match(s.hint ?? '', /2 nodes selected/);
  });

  test('roles: marked with plugin data, indexed on the document, listed, cleared, and stale ids pruned', async () => {
    const ref = figma.add('RECTANGLE', 'Moodboard', { x: 0, y: 0, width: 300, height: 200 }, BLUE);
    const pose = figma.add('FRAME', 'Pose', { x: 0, y: 0, width: 100, height: 200 }, GREEN);
    const gone = figma.add('RECTANGLE', 'Old ref', { x: 0, y: 0, width: 10, height: 10 });
    figma.select(ref, gone);
    await send({ type: 'set-role', role: 'reference' });
    figma.select(pose);
    await send({ type: 'set-role', role: 'control' });
    assert.equal(ref.getPluginData(KEY_ROLE), 'reference');
    assert.equal(pose.getPluginData(KEY_ROLE), 'control');
    assert.equal(last('selection').selection.target?.role, 'control');
    let roles = last('roles').roles;
    assert.deepEqual(roles.map((r) => [r.name, r.role]), [['Moodboard', 'reference'], ['Old ref', 'reference'], ['Pose', 'control']]);

    gone.remove();
    figma.select(ref); // selectionchange refreshes the roles
    await new Promise((r) => setImmediate(r));
    roles = last('roles').roles;
    assert.deepEqual(roles.map((r) => r.name), ['Moodboard', 'Pose']);
    assert.deepEqual(JSON.parse(figma.root.getPluginData(KEY_ROLE_INDEX)), [ref.id, pose.id]);

    await send({ type: 'clear-role', nodeId: pose.id });
    assert.equal(pose.getPluginData(KEY_ROLE), '');
    assert.deepEqual(last('roles').roles.map((r) => r.name), ['Moodboard']);

    figma.select(ref);
    await send({ type: 'set-role', role: null });
    assert.deepEqual(last('roles').roles, []);

    figma.select();
    await send({ type: 'set-role', role: 'reference' });
    assert.match(figma.notices.at(-1)?.message ?? '', /Select the nodes/);
  });

  test('export: init scaled to fill the pixel budget, references ≤ 1024, controls at the budget, the target never its own role', async () => {
    const frame = figma.add('FRAME', 'Hero', { x: 100, y: 50, width: 1440, height: 900 }, RED);
    const ref = figma.add('RECTANGLE', 'Moodboard', { x: 0, y: 0, width: 3000, height: 2000 }, BLUE);
    const pose = figma.add('FRAME', 'Pose', { x: 0, y: 0, width: 100, height: 200 }, GREEN);
    figma.select(ref);
    await send({ type: 'set-role', role: 'reference' });
    figma.select(pose);
    await send({ type: 'set-role', role: 'control' });
    figma.select(frame);
    await send({ type: 'set-role', role: 'reference' }); // marked, but it is the target: left out
    await send({ type: 'export', requestId: 'r1', intent: 'generate', wantInit: true, budget: BUDGET });
    const ex = last('exported');
    assert.equal(ex.requestId, 'r1');
    assert.equal(ex.target.id, frame.id);
    assert.ok(ex.init);
    assert.ok(ex.init.bytes instanceof Uint8Array, 'bytes cross as Uint8Array');
    const init = await pngInfo(ex.init.bytes);
    assert.deepEqual([init.width, init.height], [ex.init.width, ex.init.height]);
    assert.ok(init.width * init.height <= BUDGET.maxPixels, `${init.width}x${init.height} within the budget`);
    assert.ok(init.width * init.height > 0.99 * BUDGET.maxPixels, 'and fills it');
    assert.deepEqual(init.rgb, [255, 0, 0]);
    assert.equal(ex.references.length, 1);
    assert.equal(ex.references[0].name, 'Moodboard');
    const r = await pngInfo(ex.references[0].bytes);
    assert.ok(Math.max(r.width, r.height) <= 1024);
    assert.deepEqual(r.rgb, [0, 0, 255]);
    assert.equal(ex.controls.length, 1);
    const c = await pngInfo(ex.controls[0].bytes);
    assert.ok(c.width * c.height <= BUDGET.maxPixels && c.width * c.height > 0.98 * BUDGET.maxPixels, 'a small pose node is rendered up to the budget');
    const call = figma.exports.find((e) => e.nodeId === frame.id)!;
    assert.equal(call.settings.format, 'PNG');
    assert.equal(call.settings.useAbsoluteBounds, true);
    assert.equal((call.settings as { colorProfile?: string }).colorProfile, 'SRGB');
  });

  test('export without init (text only) sends no target pixels', async () => {
    const frame = figma.add('FRAME', 'Hero', { x: 0, y: 0, width: 400, height: 300 }, RED);
    figma.select(frame);
    await send({ type: 'export', requestId: 'r2', intent: 'generate', wantInit: false, budget: BUDGET });
    assert.equal(last('exported').init, null);
    assert.equal(figma.exports.length, 0);
  });

  test('export of a huge node keeps every side ≤ 4096', async () => {
    const strip = figma.add('FRAME', 'Strip', { x: 0, y: 0, width: 20000, height: 100 }, RED);
    figma.select(strip);
    await send({ type: 'export', requestId: 'r3', intent: 'generate', wantInit: true, budget: { ...BUDGET, maxPixels: 16 * 1024 * 1024 } });
    const info = await pngInfo(last('exported').init!.bytes);
    assert.ok(info.width <= 4096, `width ${info.width}`);
  });

  test('export failures are answered, not thrown: no selection, not a generated node', async () => {
    await send({ type: 'export', requestId: 'e1', intent: 'generate', wantInit: true, budget: BUDGET });
    assert.deepEqual(last('failed'), { type: 'failed', requestId: 'e1', message: 'Select one frame or shape first.' });
    const f = figma.add('FRAME', 'F', { x: 0, y: 0, width: 10, height: 10 });
    figma.select(f);
    await send({ type: 'export', requestId: 'e2', intent: 'regenerate', wantInit: true, budget: BUDGET });
    assert.match(last('failed').message, /not a generated image/);
  });

  test('fill: the IMAGE fill goes on top, old fills stay hidden, record and paint state stored, one undo step', async () => {
    const frame = figma.add('FRAME', 'Hero', { x: 0, y: 0, width: 400, height: 300 }, RED);
    figma.select(frame);
    const imgs = await results(1, 1234);
    await send({ type: 'insert', requestId: 'i1', targetId: frame.id, placement: 'fill', images: imgs });
    assert.deepEqual(last('inserted'), { type: 'inserted', requestId: 'i1', nodeIds: [frame.id] });
    assert.equal(frame.fills.length, 2);
    assert.deepEqual(frame.fills[0], { type: 'SOLID', color: RED, visible: false });
    const top = frame.fills[1] as ImagePaint;
    assert.equal(top.type, 'IMAGE');
    assert.equal(top.scaleMode, 'FILL');
    assert.deepEqual(figma.images.get(top.imageHash!), imgs[0].bytes, 'the result bytes reach createImage unchanged');
    assert.equal(JSON.parse(frame.getPluginData(KEY_RECORD)).seed, 1234);
    assert.deepEqual(JSON.parse(frame.getPluginData(KEY_PAINT)), { hash: top.imageHash, visibility: [true] });
    assert.equal(figma.undoCommits, 2, 'one commit before and one after: the insertion is its own undo step');
    assert.equal(last('selection').selection.target?.record?.seed, 1234, 'the UI learns the target is now a generated node');

    // Regenerate replaces our image and keeps the original visibility record.
    const again = await results(1, 99);
    await send({ type: 'insert', requestId: 'i2', targetId: frame.id, placement: 'fill', images: again });
    assert.equal(frame.fills.length, 2);
    assert.notEqual((frame.fills[1] as ImagePaint).imageHash, top.imageHash);
    assert.deepEqual(JSON.parse(frame.getPluginData(KEY_PAINT)).visibility, [true]);
  });

  test('fill with variations: clones of the target in a grid beside it, named with their seeds', async () => {
    const frame = figma.add('FRAME', 'Card', { x: 100, y: 200, width: 400, height: 300 }, RED);
    figma.select(frame);
    frame.setPluginData(KEY_ROLE, 'reference');
    await send({ type: 'insert', requestId: 'i3', targetId: frame.id, placement: 'fill', images: await results(4, 50) });
    const ids = last('inserted').nodeIds;
    assert.equal(ids.length, 4);
    assert.equal(ids[0], frame.id);
    const clones = await Promise.all(ids.slice(1).map((id) => figma.getNodeByIdAsync(id))) as FakeNode[];
    assert.deepEqual(clones.map((c) => c.name), ['Card · seed 51', 'Card · seed 52', 'Card · seed 53']);
    // 3 clones → 2 columns: (right of the card), (next column), (second row)
    const gap = 20; // defaultGap(400×300) = max(16, 5% of 400)
    assert.deepEqual(clones.map((c) => [c.x, c.y]), [[100 + 400 + gap, 200], [100 + 2 * (400 + gap), 200], [100 + 400 + gap, 200 + 300 + gap]]);
    for (const c of clones) {
      assert.equal(c.getPluginData(KEY_ROLE), '', 'clones do not inherit roles');
      assert.equal((c.fills.at(-1) as ImagePaint).type, 'IMAGE');
    }
    assert.deepEqual(clones.map((c) => JSON.parse(c.getPluginData(KEY_RECORD)).seed), [51, 52, 53]);
  });

  test('beside: new rectangles at the target size, in a grid to its right, with seeds in their names and a source link', async () => {
    const parent = figma.add('FRAME', 'Page frame', { x: 1000, y: 1000, width: 2000, height: 2000 });
    const shape = figma.add('ELLIPSE', 'Blob', { x: 10, y: 20, width: 200, height: 100 }, GREEN, parent);
    figma.select(shape);
    await send({ type: 'insert', requestId: 'i4', targetId: shape.id, placement: 'beside', images: await results(2, 7) });
    const ids = last('inserted').nodeIds;
    const rects = await Promise.all(ids.map((id) => figma.getNodeByIdAsync(id))) as FakeNode[];
    assert.deepEqual(rects.map((r) => r.type), ['RECTANGLE', 'RECTANGLE']);
    assert.deepEqual(rects.map((r) => r.name), ['[IPA] 7 a red sneaker', '[IPA] 8 a red sneaker']);
    assert.deepEqual(rects.map((r) => [r.x, r.y, r.width, r.height]), [[1010 + 200 + 16, 1020, 200, 100], [1010 + 2 * (200 + 16), 1020, 200, 100]]);
    for (const r of rects) {
      assert.equal(r.parent, figma.currentPage, 'placed on the page at absolute coordinates');
      assert.equal(r.fills.length, 1);
      assert.equal(r.fills[0].type, 'IMAGE');
      assert.equal(r.getPluginData(KEY_SOURCE), shape.id);
    }
    assert.deepEqual(shape.fills, [{ type: 'SOLID', color: GREEN }], 'the source is untouched');
  });

  test('regenerate exports the filled node as it was (generated image hidden), then restores its fills', async () => {
    const frame = figma.add('FRAME', 'Hero', { x: 0, y: 0, width: 400, height: 300 }, RED);
    figma.select(frame);
    await send({ type: 'insert', requestId: 'i5', targetId: frame.id, placement: 'fill', images: await results(1, 5) });
    assert.deepEqual(frame.renderColor(), IMAGE_MARKER, 'the canvas shows the generated image');
    const before = frame.fills;
    await send({ type: 'export', requestId: 'r5', intent: 'regenerate', wantInit: true, budget: BUDGET });
    const ex = last('exported');
    assert.equal(ex.record?.seed, 5);
    assert.equal(ex.target.id, frame.id);
    assert.deepEqual((await pngInfo(ex.init!.bytes)).rgb, [255, 0, 0], 'exported without the generated image');
    assert.deepEqual(frame.fills, before, 'fills restored after the export');
  });

  test('variation of a beside result exports its source; a deleted source is a clear error', async () => {
    const src = figma.add('RECTANGLE', 'Src', { x: 0, y: 0, width: 100, height: 100 }, BLUE);
    figma.select(src);
    await send({ type: 'insert', requestId: 'i6', targetId: src.id, placement: 'beside', images: await results(1, 3) });
    const rect = (await figma.getNodeByIdAsync(last('inserted').nodeIds[0]))!;
    figma.select(rect);
    assert.equal(last('selection').selection.target?.record?.seed, 3);
    await send({ type: 'export', requestId: 'r6', intent: 'variation', wantInit: true, budget: BUDGET });
    assert.deepEqual((await pngInfo(last('exported').init!.bytes)).rgb, [0, 0, 255]);
    // A variation of the variation keeps pointing at the original source.
    await send({ type: 'insert', requestId: 'i7', targetId: rect.id, placement: 'beside', images: await results(1, 4) });
    const v2 = (await figma.getNodeByIdAsync(last('inserted').nodeIds[0]))!;
    assert.equal(v2.getPluginData(KEY_SOURCE), src.id);
    src.remove();
    await send({ type: 'export', requestId: 'r7', intent: 'variation', wantInit: true, budget: BUDGET });
    assert.match(last('failed').message, /generated from was deleted/);
  });

  test('insert refuses results over 4096 px a side and deleted targets', async () => {
    const f = figma.add('FRAME', 'F', { x: 0, y: 0, width: 10, height: 10 });
    const big = (await results(1, 1))[0];
    await send({ type: 'insert', requestId: 'i8', targetId: f.id, placement: 'fill', images: [{ ...big, width: 5000 }] });
    assert.match(last('failed').message, /4096/);
    f.remove();
    await send({ type: 'insert', requestId: 'i9', targetId: f.id, placement: 'fill', images: await results(1, 1) });
    assert.match(last('failed').message, /deleted/);
  });

  test('fill into a node that cannot take fills is refused with a pointer to "Place beside"', async () => {
    const g = figma.add('GROUP', 'G', { x: 0, y: 0, width: 10, height: 10 });
    await send({ type: 'insert', requestId: 'i10', targetId: g.id, placement: 'fill', images: await results(1, 1) });
    assert.match(last('failed').message, /Place beside/);
  });

  test('messages arrive through figma.ui.onmessage like in Figma; junk is ignored', async () => {
    figma.deliver({ type: 'ready' });
    figma.deliver('garbage');
    figma.deliver(null);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(last('init').type, 'init');
    figma.deliver({ type: 'notify', message: 'hi', error: true });
    await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(figma.notices.at(-1), { message: 'hi', error: true });
  });

  test('reveal scrolls the node into view, switching to its page first', async () => {
    const n = figma.add('FRAME', 'X', { x: 0, y: 0, width: 10, height: 10 });
    await send({ type: 'reveal', nodeId: n.id });
    assert.deepEqual(figma.scrolledTo, [[n.id]]);
    const first = figma.currentPage;
    const other = new FakePage(figma);
    const elsewhere = figma.add('RECTANGLE', 'On page 2', { x: 0, y: 0, width: 10, height: 10 }, BLUE, other);
    await send({ type: 'reveal', nodeId: elsewhere.id });
    assert.equal(figma.currentPage, other);
    assert.notEqual(first, other);
    assert.deepEqual(figma.scrolledTo.at(-1), [elsewhere.id]);
  });
});
