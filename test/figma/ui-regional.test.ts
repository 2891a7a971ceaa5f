/**
 * Model families and region nodes in the built ui.html, in headless Chromium against a REAL daemon whose
 * test engine also lists an SDXL checkpoint, the sandbox code against the fake document: the user picks
 * the SDXL model (the family line says SDXL; the adapter list holds only what SDXL has), marks two styles
 * and their regions with the panel's buttons (the roles list names each region's style), and generates;
 * the result's record holds both masks by hash, SDXL's bucket size and steps, and the family.
 * Screenshot: test-artifacts/figma-ui-regional.png.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { KEY_RECORD, STORAGE_CONNECTION } from '../../plugins/figma/src/store.ts';
import { parseRecord } from '../../shared/plugin/record.ts';
import { FAMILIES_DAEMON } from '../helpers/daemon.ts';
import type { FakeNode } from './fake-figma.ts';
import { ARTIFACTS, skip, useUiRig } from './ui-rig.ts';

const rig = useUiRig(FAMILIES_DAEMON);
const daemon = rig.daemon;

test('the UI: SDXL model and family line; two styles with regions marked by the buttons; both masks recorded', { skip }, async () => {
  const n: Record<string, FakeNode> = {};
  const ui = await rig.openUi((figma) => {
    n.frame = figma.add('FRAME', 'Harbour', { x: 0, y: 0, width: 200, height: 100 }, { r: 0.9, g: 0.2, b: 0.2 });
    n.left = figma.add('RECTANGLE', 'Left half', { x: 0, y: 0, width: 100, height: 100 }, undefined, n.frame);
    n.right = figma.add('ELLIPSE', 'Right oval', { x: 100, y: 0, width: 100, height: 100 }, undefined, n.frame);
    n.left.visible = n.right.visible = false;
    n.painting = figma.add('RECTANGLE', 'Painting', { x: 300, y: 0, width: 64, height: 64 }, { r: 0.1, g: 0.2, b: 0.9 });
    n.photo = figma.add('RECTANGLE', 'Photo', { x: 400, y: 0, width: 64, height: 64 }, { r: 0.1, g: 0.8, b: 0.2 });
    figma.storage.set(STORAGE_CONNECTION, { port: daemon.port, token: daemon.token });
  });
  const { page, figma } = ui;
  await page.waitForFunction(() => document.getElementById('status-text')?.textContent?.startsWith('Connected'), null, { timeout: 15_000 });

  // The model picker: the daemon default is SD1.5; SDXL changes the family line and the adapter list.
  assert.match(await page.textContent('#family-label') ?? '', /^SD 1\.5/);
  await page.selectOption('#checkpoint', 'test-sdxl.safetensors');
  await page.waitForFunction(() => /^SDXL · nearest of 9 aspect buckets/.test(document.getElementById('family-label')?.textContent ?? ''));
  assert.deepEqual(await page.$$eval('#adapter option', (os) => os.map((o) => (o as HTMLOptionElement).value)), ['base']);

  // Roles with the panel's buttons: two styles, then each with its region (selected together).
  const selectAndClick = async (button: string, ...nodes: FakeNode[]): Promise<void> => {
    figma.select(...nodes);
    await page.waitForTimeout(50);
    await page.click(button);
    await page.waitForTimeout(100);
  };
  await selectAndClick('#mark-reference', n.painting);
  await selectAndClick('#mark-reference', n.photo);
  await selectAndClick('#mark-region', n.painting, n.left);
  await selectAndClick('#mark-region', n.right, n.photo);
  await page.waitForFunction(() => document.querySelectorAll('#roles li').length === 4);
  assert.deepEqual(await page.$$eval('#roles li .grow', (els) => els.map((e) => e.textContent)), ['Painting', 'Photo', 'Left half → Painting', 'Right oval → Photo']);

  figma.select(n.frame);
  await page.uncheck('#useInit');
  await page.fill('#prompt', 'a harbour at dusk');
  await page.click('#generate');
  await page.waitForFunction(() => /placed/.test(document.getElementById('run-text')?.textContent ?? ''), null, { timeout: 20_000 });
  await page.waitForTimeout(200);
  const placed = figma.currentPage.children.find((c) => c.getPluginData(KEY_RECORD) && c !== n.frame) ?? n.frame;
  const rec = parseRecord(JSON.parse(placed.getPluginData(KEY_RECORD) || 'null'));
  assert.ok(rec, 'a generated node with its record');
  assert.equal(rec.family, 'sdxl');
  assert.deepEqual([rec.params.width, rec.params.height, rec.params.steps, rec.params.guidance], [1344, 768, 30, 5], '2:1 → SDXL\'s 1344×768, SDXL\'s defaults');
  assert.deepEqual(rec.references.map((r) => r.mask?.source), ['hash', 'hash'], 'both regions reached the daemon as masks');
  await page.locator('#roles').evaluate((e) => e.scrollIntoView({ block: 'start' }));
  await page.screenshot({ path: join(ARTIFACTS, 'figma-ui-regional.png') });
  await ui.close();
});
