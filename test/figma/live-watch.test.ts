/**
 * Figma live mode's sandbox side against the fake `figma`: `watch` listens to the frame's page
 * (nodechange, since documentchange is unavailable with dynamic-page), edits of the frame, of nodes
 * inside it and of role nodes are reported as `edited`, others are not, `watch null` stops; an export
 * for live mode takes the watched frame even when the selection moved inside it.
 */
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import type { SandboxMessage, UiMessage } from '../../plugins/figma/src/messages.ts';
import { startSandbox, type SandboxHandle } from '../../plugins/figma/src/sandbox.ts';
import { KEY_ROLE } from '../../plugins/figma/src/store.ts';
import { FakeFigma } from './fake-figma.ts';

let figma: FakeFigma;
let sb: SandboxHandle;

beforeEach(() => {
  figma = new FakeFigma();
  sb = startSandbox(figma.asApi(), '<html>ui</html>');
});

const send = (m: UiMessage): Promise<void> => sb.handle(structuredClone(m));
const edits = (): string[] => figma.posted.filter((m) => (m as SandboxMessage).type === 'edited').map((m) => (m as { nodeId: string }).nodeId);
const tick = () => new Promise((r) => setTimeout(r, 5));

test('watch: the frame, its children and role nodes are edits; other nodes are not; watch null stops', async () => {
  const frame = figma.add('FRAME', 'Card', { x: 0, y: 0, width: 200, height: 120 }, { r: 1, g: 1, b: 1 });
  const child = figma.add('RECTANGLE', 'Badge', { x: 10, y: 10, width: 40, height: 20 }, { r: 1, g: 0, b: 0 }, frame);
  const other = figma.add('RECTANGLE', 'Elsewhere', { x: 400, y: 0, width: 40, height: 40 }, { r: 0, g: 0, b: 1 });
  const style = figma.add('RECTANGLE', 'Style', { x: 600, y: 0, width: 40, height: 40 }, { r: 0, g: 1, b: 0 });
  style.setPluginData(KEY_ROLE, 'reference');
  await send({ type: 'watch', nodeId: frame.id });

  figma.userEdit(child, ['fills'], (n) => void (n.fills = [{ type: 'SOLID', color: { r: 0, g: 1, b: 0 } }]));
  await tick();
  assert.deepEqual(edits(), [frame.id], 'a change inside the frame');
  figma.userEdit(other, ['x'], (n) => void (n.x = 500));
  await tick();
  assert.deepEqual(edits(), [frame.id], 'a node outside the frame is not an edit');
  figma.userEdit(style, ['fills'], (n) => void (n.fills = []));
  await tick();
  assert.deepEqual(edits(), [frame.id, frame.id], 'a style reference feeds every job: an edit');
  figma.userEdit(frame, ['width'], () => undefined);
  await tick();
  assert.equal(edits().length, 3);

  await send({ type: 'watch', nodeId: null });
  figma.userEdit(child, ['fills'], () => undefined);
  await tick();
  assert.equal(edits().length, 3, 'stopped');
  assert.equal(figma.currentPage.nodeChangeHandlers.length, 0, 'its listener is removed');
});

test('a live export takes the watched frame, not the selection that moved inside it', async () => {
  const frame = figma.add('FRAME', 'Card', { x: 0, y: 0, width: 200, height: 120 }, { r: 1, g: 1, b: 1 });
  const child = figma.add('RECTANGLE', 'Badge', { x: 10, y: 10, width: 40, height: 20 }, { r: 1, g: 0, b: 0 }, frame);
  figma.select(child);
  await send({ type: 'export', requestId: 'r1', intent: 'generate', wantInit: true, budget: { maxPixels: 512 * 512, maxSide: 4096, referenceMaxSide: 1024 }, targetId: frame.id });
  const out = figma.posted.find((m) => (m as SandboxMessage).type === 'exported') as Extract<SandboxMessage, { type: 'exported' }>;
  assert.equal(out.target.id, frame.id);
  assert.equal(out.init?.nodeId, frame.id);
  await send({ type: 'export', requestId: 'r2', intent: 'generate', wantInit: true, budget: { maxPixels: 512 * 512, maxSide: 4096, referenceMaxSide: 1024 }, targetId: 'gone:1' });
  const failed = figma.posted.find((m) => (m as SandboxMessage).type === 'failed') as { message: string };
  assert.match(failed.message, /live frame was deleted/);
});
