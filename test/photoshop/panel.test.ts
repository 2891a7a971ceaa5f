/**
 * End to end: the built panel (HTML + IIFE bundle, as the UXP Developer Tool loads it) in headless
 * Chromium, `require('photoshop'|'uxp')` answered by the in-memory Photoshop (a 16-bit Adobe RGB
 * document), talking to a REAL daemon over a real WebSocket. The user's path: paste the token, write a
 * prompt, pick a style layer and a pose layer, "Selection fill", Generate; then the layer is checked in
 * the document. Then the daemon goes away and comes back: the panel shows it and reconnects by itself.
 * Screenshots of every state: test-artifacts/photoshop-panel-{disconnected,connecting,ready,running,result,error}.png.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { withSilentPort } from '../helpers/ports.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { hasChromium, launchBrowser } from '../helpers/browser.ts';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { buildFakeHost, buildPanel, readText } from './build-panel.ts';
import { buildRestrictScript, wrapForUxp } from './uxp-globals.ts';
import { ARTIFACTS, uxpViolations } from './panel-rig.ts';
import { SCENE } from './scene.ts';

interface Summary {
  tree: Array<{ id: number; name: string; visible: boolean; children?: Summary['tree'] }>;
  history: string[];
  liveImageData: number;
  modalLog: Array<{ label: string; start: number; end: number }>;
  xmp: Record<string, string>;
}

let dir = '';
let daemon: TestDaemon | null = null;
let browser: Browser | null = null;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ipa-ps-panel-'));
  mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await daemon?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function openPanel(fakeScript: string, restrict: string): Promise<Page> {
  const page = await browser!.newPage({ viewport: { width: 320, height: 900 }, deviceScaleFactor: 2 });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/WebSocket connection|ERR_CONNECTION_REFUSED|Failed to load resource/.test(m.text())) errors.push(m.text());
  });
  (page as Page & { errors: string[] }).errors = errors;
  await page.addInitScript({ content: `window.__ipaFakeConfig = ${JSON.stringify({ scene: { bitDepth: 16, profile: 'Adobe RGB (1998)' }, convertsOnRead: false })};\n${fakeScript}\n${restrict}` });
  await page.goto(pathToFileURL(join(dir, 'index.html')).href);
  return page;
}

/** test-artifacts/photoshop-panel-<state>.png, the whole panel. */
async function shot(page: Page, state: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `photoshop-panel-${state}.png`), fullPage: true });
}


test('the panel generates into a selection end to end, and shows and survives a daemon restart', { skip: !hasChromium() && 'no chromium' }, async () => {
  await buildPanel(dir);
  // The bundle runs with only UXP's globals (uxp-globals.ts); what else it touches is logged and fails below.
  writeFileSync(join(dir, 'index.js'), wrapForUxp(readText(join(dir, 'index.js'))));
  const manifest = JSON.parse(readText(join(dir, 'manifest.json'))) as { requiredPermissions: { network: { domains: string[] } } };
  assert.deepEqual(manifest.requiredPermissions.network.domains, ['ws://127.0.0.1:41872', 'ws://localhost:41872']);
  const fake = await buildFakeHost();
  const restrict = await buildRestrictScript();
  daemon = await startTestDaemon({ stepMs: 60 });
  browser = await launchBrowser();
  const page = await openPanel(fake, restrict);

  // First start: no token → the connection box asks for it; the form already holds its defaults.
  await page.waitForSelector('#connBox:not(.hidden)');
  assert.match(await page.textContent('#statusText') ?? '', /Not connected/);
  assert.match(await page.inputValue('#steps input'), /^\d+$/, 'Steps filled in before the first connection');
  assert.match(await page.inputValue('#seed input'), /^\d+$/);
  assert.match(await page.textContent('#strengthVal') ?? '', /^\d\.\d\d$/, 'sliders show their values');
  await shot(page, 'disconnected');

  // Connecting: a port that accepts TCP and never answers the upgrade holds the panel there.
  const pairing = daemon.token;
  await withSilentPort(async (silent) => {
    await page.fill('#token input', pairing);
    await page.fill('#port input', String(silent));
    await page.click('#connect');
    await page.waitForFunction(() => /^Connecting/.test(document.getElementById('statusText')?.textContent ?? ''), undefined, { timeout: 15_000 });
    await shot(page, 'connecting');
  });
  await page.click('#connToggle');
  await page.fill('#token input', daemon.token);
  await page.fill('#port input', String(daemon.port));
  await page.click('#connect');
  await page.waitForFunction(() => document.getElementById('statusText')?.textContent === 'Connected', undefined, { timeout: 15_000 });
  assert.match(await page.textContent('#statusDetail') ?? '', /ipa-bridge .* · CPU · 4 models/);
  // The test engine has no tokenizer and no image encoder: the panel says so, with the fixing command.
  assert.match(await page.textContent('#statusDetail') ?? '', /missing: text to image \(no CLIP tokenizer\); image prompts \(no ViT-H image encoder\)/);
  assert.match(await page.textContent('#statusCode') ?? '', /npx ipa-bridge models pull tokenizer && npx ipa-bridge models pull sd15-style/);
  await shot(page, 'ready');

  // The form, as a designer fills it.
  await page.fill('#prompt textarea', 'a lighthouse at dusk, oil painting');
  await page.click('#refSource [data-v="layer"]');
  await page.selectOption('#refLayer select', { label: 'Style (hidden)' });
  await page.fill('#refScale input', '0.85');
  assert.match(await page.textContent('#refGuide') ?? '', /Strong/);
  await page.selectOption('#ctlLayer select', { label: 'Pose (hidden)' });
  await page.click('#mode [data-v="inpaint"]');
  await page.fill('#steps input', '16');
  await page.dispatchEvent('#steps', 'change');
  await page.fill('#seed input', '1234');
  await page.dispatchEvent('#seed', 'change');
  assert.equal(await page.isChecked('#seedLock input'), true);

  const historyBefore = (await page.evaluate(() => (window as unknown as { __ipaFake: { summary(): Summary } }).__ipaFake.summary())).history.length;
  await page.click('#generate');
  await page.waitForSelector('#progressBox:not(.hidden)');
  await page.waitForFunction(() => /Step ([4-9]|1\d) of 16/.test(document.getElementById('progressText')?.textContent ?? ''), undefined, { timeout: 15_000 });
  await page.waitForSelector('#preview:not(.hidden)', { timeout: 15_000 });
  await shot(page, 'running');
  await page.waitForSelector('#results .thumb', { timeout: 30_000 });
  await page.waitForSelector('#progressBox.hidden', { state: 'attached' });
  const notice = await page.$eval('#notice', (n) => (n.classList.contains('hidden') ? '' : n.textContent));
  assert.ok(!notice || !/error/i.test(notice), `notice: ${notice}`);

  const s = await page.evaluate(() => (window as unknown as { __ipaFake: { summary(): Summary } }).__ipaFake.summary());
  const art = s.tree.find((l) => l.name === 'Art')!;
  assert.deepEqual(art.children!.map((l) => l.name), ['[IPA] 1234 a lighthouse at dusk, oil painting', 'Sketch'], 'directly above the source layer, inside its group');
  assert.deepEqual(s.history.slice(historyBefore), ['Generate with IP-Adapter'], 'one history step');
  assert.equal(s.liveImageData, 0, 'every imageData disposed');
  assert.equal(s.modalLog.length, 2, 'one modal scope to read, one to write');
  const record = JSON.parse(/<ipaBridge:record>([\s\S]*)<\/ipaBridge:record>/.exec(s.xmp['[IPA] 1234 a lighthouse at dusk, oil painting'])![1].replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')) as { seed: number; target: { mode: string }; settings: { referenceScale: number }; references: unknown[]; controls: unknown[] };
  assert.equal(record.seed, 1234);
  assert.equal(record.target.mode, 'inpaint');
  assert.equal(record.settings.referenceScale, 0.85);
  assert.equal(record.references.length, 1);
  assert.equal(record.controls.length, 1);

  // Pixels: inside the selection opaque, outside transparent (the rest of the picture is untouched).
  const name = '[IPA] 1234 a lighthouse at dusk, oil painting';
  const at = (x: number, y: number): Promise<number[]> => page.evaluate(([n, px, py]) => (window as unknown as { __ipaFake: { pixel(n: string, x: number, y: number): number[] } }).__ipaFake.pixel(n as string, px as number, py as number), [name, x, y] as const);
  const sel = SCENE.selection;
  assert.ok((await at(sel.x + 20, sel.y + 20))[3] > 0.99, 'inside');
  assert.equal((await at(sel.x - 10, sel.y + 20))[3], 0, 'left of the selection');
  assert.equal((await at(sel.x + 20, sel.y + sel.height + 5))[3], 0, 'below the selection');
  // The feathered edge is blended once, by the layer's alpha: the daemon repainted it in full (its
  // colour is the inside's), so the engine did not blend it as well (alpha × mask would square it).
  const edge = await at(sel.x + 1, sel.y + 40);
  assert.ok(edge[3] > 0.2 && edge[3] < 0.8, `feathered edge alpha ${edge[3]}`);
  const inside = await at(sel.x + 40, sel.y + 40);
  assert.ok([0, 1, 2].every((c) => Math.abs(edge[c] - inside[c]) <= 0.02), `edge colour ${edge} = inside colour ${inside}`);

  assert.deepEqual((page as Page & { errors: string[] }).errors, []);
  assert.deepEqual(await uxpViolations(page), [], 'globals UXP does not provide');
  await shot(page, 'result');

  // The daemon stops: the panel says so and retries; it comes back on the same port: reconnected.
  const { port, token } = daemon;
  await daemon.stop();
  daemon = null;
  await page.waitForFunction(() => /not running — retrying in/.test(document.getElementById('statusText')?.textContent ?? ''), undefined, { timeout: 15_000 });
  assert.match(await page.textContent('#statusCode') ?? '', /npx ipa-bridge start --port \d+/);
  await shot(page, 'error');
  daemon = await startTestDaemon({ stepMs: 60, args: ['--port', String(port)], env: { IPA_BRIDGE_TOKEN: token } });
  await page.waitForFunction(() => document.getElementById('statusText')?.textContent === 'Connected', undefined, { timeout: 30_000 });

  // Settings survive a reload (localStorage), the token too (secure storage is in-memory in the fake, so
  // only the panel's own state is checked here).
  await page.reload();
  assert.equal(await page.inputValue('#prompt textarea'), 'a lighthouse at dusk, oil painting');
  assert.equal(await page.inputValue('#seed input'), '1234');
  assert.deepEqual(await uxpViolations(page), [], 'globals UXP does not provide, after the reload');
  await page.close();
});
