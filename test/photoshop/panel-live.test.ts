/**
 * Live mode in the built panel, in headless Chromium under UXP's globals only, against a REAL daemon:
 * the user turns Live on, the fake Photoshop fires the notifications of brush strokes; the panel shows
 * the live picture and its status, keeps a live layer updated in place, and Apply makes it a result in
 * one history step. The preset picker lists Live / Fast / Quality from the daemon's models.
 * Screenshot: test-artifacts/photoshop-panel-live.png.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { hasChromium } from '../helpers/browser.ts';
import { ARTIFACTS, connectPanel, uxpViolations, usePanelRig } from './panel-rig.ts';

const panel = usePanelRig();

type FakeApi = {
  world: { userPaint(doc: unknown, layer: string, rect: { x: number; y: number; width: number; height: number }, color: number[]): void };
  doc: unknown;
  summary(): { history: string[]; tree: Array<{ name: string; children?: Array<{ name: string }> }> };
  layerByPrefix(prefix: string): string | null;
};

test('live mode in the panel: strokes → live picture and live layer; Apply is one history step', { skip: !hasChromium() && 'no chromium' }, async () => {
  const { page, daemon, errors } = await panel.open({ tmpPrefix: 'ipa-ps-live-', daemon: { stepMs: 40 }, viewportHeight: 1100, fakeConfig: { scene: {} } });
  await connectPanel(page, daemon);

  // The preset picker: Live / Fast / Quality; Quality sets the standard job's fields.
  await page.selectOption('#speed select', { label: 'Quality' });
  await page.waitForFunction(() => /25 steps/.test(document.getElementById('speedLabel')?.textContent ?? ''));
  assert.equal(await page.inputValue('#steps input'), '25');

  await page.fill('#prompt textarea', 'a lighthouse, live');
  await page.dispatchEvent('#prompt', 'change');
  await page.click('#liveLayer input');
  await page.click('#liveToggle input');
  await page.waitForFunction(() => /1 shown/.test(document.getElementById('liveStatus')?.textContent ?? ''), undefined, { timeout: 20_000 });
  const fakeCall = (fn: string): Promise<unknown> => page.evaluate(fn);
  assert.ok(await fakeCall(`window.__ipaFake.layerByPrefix('[IPA live]')`), 'the live layer exists');

  // Three quick strokes: one more job (debounced), the live layer replaced in place.
  for (let i = 0; i < 3; i++) {
    await page.evaluate((k) => {
      const f = (window as unknown as { __ipaFake: FakeApi }).__ipaFake;
      f.world.userPaint(f.doc, 'Sketch', { x: 80 + k * 12, y: 80, width: 12, height: 12 }, [0.9, 0.1, 0.1, 1]);
    }, i);
    await page.waitForTimeout(30);
  }
  await page.waitForFunction(() => /2 shown/.test(document.getElementById('liveStatus')?.textContent ?? ''), undefined, { timeout: 20_000 });
  await page.waitForSelector('#livePreview:not(.hidden)');
  const status = await page.textContent('#liveStatus') ?? '';
  assert.match(status, /seed \d+/);
  assert.match(status, /8 steps/, 'the test daemon has no few-step model: the Live preset says so');
  await page.screenshot({ path: join(ARTIFACTS, 'photoshop-panel-live.png'), fullPage: true });

  const before = await page.evaluate(() => (window as unknown as { __ipaFake: FakeApi }).__ipaFake.summary());
  const liveLayers = JSON.stringify(before.tree).match(/\[IPA live\]/g) ?? [];
  assert.equal(liveLayers.length, 1, 'one live layer, updated in place');
  await page.waitForFunction(() => !document.getElementById('liveApply')?.hasAttribute('disabled'));
  await page.click('#liveApply');
  await page.waitForFunction(() => /Applied the live result/.test(document.getElementById('liveStatus')?.textContent ?? ''), undefined, { timeout: 10_000 });
  const afterApply = await page.evaluate(() => (window as unknown as { __ipaFake: FakeApi }).__ipaFake.summary());
  assert.deepEqual(afterApply.history.slice(before.history.length), ['Generate with IP-Adapter'], 'Apply: one history step');
  assert.match(JSON.stringify(afterApply.tree), /\[IPA\] \d+ a lighthouse, live/);
  await page.waitForSelector('#results .thumb');

  await page.click('#liveToggle input');
  await page.waitForFunction(() => /^Off/.test(document.getElementById('liveStatus')?.textContent ?? ''));
  assert.deepEqual(errors, []);
  assert.deepEqual(await uxpViolations(page), [], 'globals UXP does not provide');
  await page.close();
});
