/**
 * Model families and regional image prompts in the built panel, in headless Chromium under UXP's globals
 * only, against a REAL daemon whose test engine also lists an SDXL checkpoint: the user picks the SDXL
 * model (the family line says SDXL, only SDXL's adapter and control type are offered), two reference
 * layers with their layer masks (left and right), and generates; the layer's record holds both masks by
 * hash and the family. The *Acts* picker lists the document's saved selections.
 * Screenshot: test-artifacts/photoshop-panel-regional.png.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { hasChromium } from '../helpers/browser.ts';
import { FAMILIES_DAEMON } from '../helpers/daemon.ts';
import { ARTIFACTS, connectPanel, uxpViolations, usePanelRig } from './panel-rig.ts';
import { parseRecord } from '../../shared/plugin/record.ts';
import { readXmpRecord } from '../../shared/plugin/xmp-record.ts';

const panel = usePanelRig();

/** Runs in the page after the fake: layer masks on Style (left half) and Pose (right half), a saved selection. */
const MASKS = `(() => {
  const f = window.__ipaFake; const d = f.doc; const W = d.width, H = d.height;
  const half = (left) => Float32Array.from({ length: W * H }, (_v, i) => ((i % W < W / 2) === left ? 1 : 0));
  d.byName('Style').userMask = half(true);
  d.byName('Pose').userMask = half(false);
  d.channels.push({ name: 'Right half', kind: 'selectedAreas', data: half(false) });
})();`;

const labels = (page: import('playwright-core').Page, id: string): Promise<string[]> =>
  page.evaluate((i) => Array.from(document.getElementById(i)!.getElementsByTagName('sp-menu-item')).map((m) => m.textContent ?? ''), id);

test('the panel: SDXL model with its family line and offers; two reference layers with left/right layer masks', { skip: !hasChromium() && 'no chromium' }, async () => {
  const { page, daemon, errors } = await panel.open({ tmpPrefix: 'ipa-ps-regional-', daemon: FAMILIES_DAEMON, viewportHeight: 1300, fakeConfig: { scene: { selection: false } }, afterFake: MASKS });
  await connectPanel(page, daemon);

  // The daemon default is SD1.5; choosing the SDXL checkpoint changes the family line and the offers.
  assert.match(await page.textContent('#familyLabel') ?? '', /^SD 1\.5/);
  assert.deepEqual(await labels(page, 'checkpoint'), ['Daemon default (SD 1.5)', 'test-sd15.safetensors · SD 1.5', 'test-sdxl.safetensors · SDXL']);
  await page.selectOption('#checkpoint select', { label: 'test-sdxl.safetensors · SDXL' });
  await page.waitForFunction(() => /^SDXL · nearest of 9 aspect buckets \(1024²\) · 30 steps, CFG 5/.test(document.getElementById('familyLabel')?.textContent ?? ''));
  assert.deepEqual(await labels(page, 'adapter'), ['Base (whole image)']);
  assert.deepEqual(await labels(page, 'ctlType'), ['Pose (OpenPose)']);

  // Two reference layers, each acting where its layer mask is white.
  await page.click('#refSource [data-v="layer"]');
  await page.selectOption('#refLayer select', { label: 'Style (hidden)' });
  assert.deepEqual(await labels(page, 'refMask'), ['Everywhere', 'Where its layer mask is white', 'In saved selection "Right half"']);
  await page.selectOption('#refMask select', { label: 'Where its layer mask is white' });
  await page.selectOption('#ref2Layer select', { label: 'Pose (hidden)' });
  await page.click('#ref2Mask input');
  await page.fill('#prompt textarea', 'a harbour at dusk');
  await page.dispatchEvent('#prompt', 'change');
  await page.click('#generate');
  await page.waitForSelector('#results .thumb', { timeout: 20_000 });

  const summary = await page.evaluate(() => (window as unknown as { __ipaFake: { summary(): { xmp: Record<string, string> } } }).__ipaFake.summary());
  const xmp = Object.entries(summary.xmp).find(([name]) => name.startsWith('[IPA]'))?.[1] ?? '';
  const rec = parseRecord(JSON.parse(readXmpRecord(xmp) ?? 'null'));
  assert.ok(rec, `a record in the layer's XMP: ${xmp.slice(0, 200)}`);
  assert.equal(rec.family, 'sdxl');
  assert.deepEqual([rec.params.width, rec.params.height, rec.params.steps], [1152, 896, 30], 'the 4:3 canvas at SDXL\'s nearest bucket, SDXL\'s steps');
  assert.deepEqual(rec.references.map((r) => r.mask?.source), ['hash', 'hash'], 'both masks reached the daemon and are kept by hash');
  await page.screenshot({ path: join(ARTIFACTS, 'photoshop-panel-regional.png'), fullPage: true });
  assert.deepEqual(errors, []);
  assert.deepEqual(await uxpViolations(page), [], 'globals UXP does not provide');
  await page.close();
});
