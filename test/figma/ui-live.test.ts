/**
 * Figma live mode end to end: the built ui.html in headless Chromium against a real daemon (test
 * engine), the sandbox code against the fake document. Live on for the selected frame; the user edits
 * a shape inside it (the fake page fires nodechange); a burst of edits becomes one more job (the marked
 * style reference goes along; by hash is checked in test/plugin/live.test.ts); Apply fills the frame in
 * one undo step.
 * Screenshot: test-artifacts/figma-ui-live.png.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { KEY_PAINT, KEY_ROLE, STORAGE_CONNECTION } from '../../plugins/figma/src/store.ts';
import type { FakeFigma } from './fake-figma.ts';
import { ARTIFACTS, skip, useUiRig } from './ui-rig.ts';

const rig = useUiRig({ stepMs: 25 });
const daemon = rig.daemon;

test('live: edits inside the frame → debounced jobs; Apply fills the frame, one undo step', { skip }, async () => {
  let hero: ReturnType<typeof addHero> | null = null;
  const addHero = (f: FakeFigma) => f.add('FRAME', 'Hero', { x: 0, y: 0, width: 256, height: 192 }, { r: 0.9, g: 0.2, b: 0.2 });
  const ui = await rig.openUi((figma) => {
    hero = addHero(figma);
    figma.add('RECTANGLE', 'Badge', { x: 20, y: 20, width: 40, height: 40 }, { r: 1, g: 1, b: 1 }, hero);
    const ref = figma.add('RECTANGLE', 'Moodboard', { x: 0, y: 300, width: 200, height: 200 }, { r: 0.2, g: 0.3, b: 0.9 });
    ref.setPluginData(KEY_ROLE, 'reference');
    figma.storage.set(STORAGE_CONNECTION, { port: daemon.port, token: daemon.token });
    figma.select(hero);
  }, 'dark');
  const { page, figma } = ui;
  await page.waitForFunction(() => document.getElementById('status-text')?.textContent?.startsWith('Connected'), null, { timeout: 15_000 });
  await page.fill('#prompt', 'a poster, live');
  await page.selectOption('#speed', 'live');
  await page.waitForFunction(() => /8 steps/.test(document.getElementById('speed-label')?.textContent ?? ''));
  await page.check('#live');
  await page.waitForFunction(() => /1 shown/.test(document.getElementById('live-status')?.textContent ?? ''), null, { timeout: 20_000 });
  const jobsAfterFirst = ui.fromUi.filter((m) => m.type === 'export').length;
  assert.equal(jobsAfterFirst, 1);
  assert.ok(ui.fromUi.some((m) => m.type === 'watch' && m.nodeId === hero!.id), 'the sandbox watches the frame');

  // The user drags the badge around inside the frame: three changes, one job.
  const badge = hero!.children[0];
  for (let i = 1; i <= 3; i++) {
    figma.userEdit(badge, ['x'], (n) => void (n.x = 20 + i * 30));
    await page.waitForTimeout(40);
  }
  await page.waitForFunction(() => /2 shown/.test(document.getElementById('live-status')?.textContent ?? ''), null, { timeout: 20_000 });
  await page.waitForTimeout(200);
  assert.equal(ui.fromUi.filter((m) => m.type === 'export').length, 2, 'three edits → one more job');
  const status = await page.textContent('#live-status') ?? '';
  assert.match(status, /“Hero” · seed \d+/);
  await page.locator('#live-section').evaluate((e) => e.scrollIntoView({ block: 'end' }));
  await page.screenshot({ path: join(ARTIFACTS, 'figma-ui-live.png') });

  const commitsBefore = figma.undoCommits;
  await page.click('#live-apply');
  await page.waitForFunction(() => /Applied the live result/.test(document.getElementById('live-status')?.textContent ?? ''), null, { timeout: 10_000 });
  assert.ok(hero!.getPluginData(KEY_PAINT), 'the live result is the frame\'s fill now');
  assert.equal(figma.undoCommits - commitsBefore, 2, 'one commit before and one after: the insertion is one undo step of its own');
  await page.uncheck('#live');
  assert.ok(ui.fromUi.some((m) => m.type === 'watch' && m.nodeId === null), 'watching stopped');
  await ui.close();
});
