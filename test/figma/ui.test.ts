/**
 * End to end: the built ui.html in headless Chromium, connected to a real daemon (test engine), with
 * the sandbox code running against a fake document behind the real postMessage interface. Runs jobs
 * (fill with variations, regenerate, variation beside, cancel, a dropped connection), checks the error
 * states (not running, wrong token, version mismatch), and saves screenshots under test-artifacts/.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { WebSocketServer } from 'ws';
import type { UiMessage } from '../../plugins/figma/src/messages.ts';
import { KEY_PAINT, KEY_RECORD, KEY_ROLE, STORAGE_CONNECTION } from '../../plugins/figma/src/store.ts';
import { withSilentPort } from '../helpers/ports.ts';
import type { FakeFigma, FakeNode } from './fake-figma.ts';
import { fromUiAsUint8, type UiPage } from './ui-page.ts';
import { ARTIFACTS, skip, useUiRig } from './ui-rig.ts';

const RED = { r: 0.9, g: 0.2, b: 0.2 };
const BLUE = { r: 0.2, g: 0.3, b: 0.9 };
const GREEN = { r: 0.1, g: 0.7, b: 0.3 };

const rig = useUiRig({ stepMs: 25 });
const daemon = rig.daemon;

/** A mockup page: a hero frame, a style reference and a pose frame. */
function mockup(figma: FakeFigma): { hero: FakeNode; ref: FakeNode; pose: FakeNode } {
  const hero = figma.add('FRAME', 'Hero banner', { x: 0, y: 0, width: 400, height: 300 }, RED);
  const ref = figma.add('RECTANGLE', 'Brand moodboard', { x: 0, y: 400, width: 600, height: 400 }, BLUE);
  const pose = figma.add('FRAME', 'Pose sketch', { x: 700, y: 400, width: 200, height: 300 }, GREEN);
  return { hero, ref, pose };
}

function storeToken(figma: FakeFigma, port: number, token: string): void {
  figma.storage.set(STORAGE_CONNECTION, { port, token });
}

async function statusText(ui: UiPage): Promise<string> {
  return ui.page.locator('#status-text').innerText();
}

async function waitRun(ui: UiPage, phase: string, timeout = 30_000): Promise<void> {
  await ui.page.waitForFunction((p) => document.body.dataset.run === p, phase, { timeout });
}

async function waitConnected(ui: UiPage): Promise<void> {
  await ui.page.waitForFunction(() => document.getElementById('status-text')?.textContent?.startsWith('Connected'), null, { timeout: 15_000 });
}

/** The mid-run tests' scene: one 256² frame selected, the daemon's token stored. */
function selectPairedFrame(figma: FakeFigma): void {
  figma.select(figma.add('FRAME', 'F', { x: 0, y: 0, width: 256, height: 256 }, RED));
  storeToken(figma, daemon.port, daemon.token);
}

/**
 * The mid-run tests: a UI on one paired 256² frame generates `prompt` in `steps` steps; once the run
 * line reports step `fromStep` (1-9) or later, `during` acts on the running job. The page is closed after.
 */
async function midRun(prompt: string, steps: number, fromStep: number, during: (ui: UiPage) => Promise<void>): Promise<void> {
  const ui = await rig.openUi(selectPairedFrame);
  try {
    await waitConnected(ui);
    await ui.page.fill('#prompt', prompt);
    await ui.page.fill('#steps', String(steps));
    await ui.page.click('#generate');
    await ui.page.waitForFunction((from) => new RegExp(`Step [${from}-9]`).test(document.getElementById('run-text')!.textContent ?? ''), fromStep, { timeout: 15_000 });
    await during(ui);
  } finally {
    await ui.close();
  }
}

function inserts(ui: UiPage): Array<Extract<UiMessage, { type: 'insert' }>> {
  return ui.fromUi.filter((m): m is Extract<UiMessage, { type: 'insert' }> => m.type === 'insert');
}

/** Clicks `selector` and waits for the run it starts to insert and finish; fails (never skips) on a timeout. */
async function runToInsert(ui: UiPage, selector: string, timeout = 30_000): Promise<Extract<UiMessage, { type: 'insert' }>> {
  const before = inserts(ui).length;
  await ui.page.click(selector);
  const deadline = Date.now() + timeout;
  while (inserts(ui).length === before) {
    assert.ok(Date.now() < deadline, `${selector}: no insert within ${timeout} ms (run: ${await ui.page.evaluate(() => document.body.dataset.run)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await waitRun(ui, 'done', timeout);
  return inserts(ui)[before];
}

async function png(bytes: Uint8Array): Promise<{ width: number; height: number; format?: string }> {
  const m = await sharp(bytes).metadata();
  return { width: m.width!, height: m.height!, format: m.format };
}

describe('figma UI in Chromium against a real daemon', { skip }, () => {
  test('pair with the token, mark roles, generate 2 variations into the frame, then regenerate and vary', async () => {
    let nodes!: ReturnType<typeof mockup>;
    // In Figma's dark theme (the other tests run in the light one).
    const ui = await rig.openUi((f) => (nodes = mockup(f)), 'dark');
    const { page, figma } = ui;
    try {
      // First run: no token stored → the connection panel asks for it.
      await page.waitForFunction(() => !document.getElementById('connection')!.hidden);
      assert.match(await statusText(ui), /paste the token/);
      assert.match(await page.inputValue('#steps'), /^\d+$/, 'Steps filled in before the first connection');
      assert.match(await page.locator('#strength-out').innerText(), /\d/, 'sliders show their values');
      await page.screenshot({ path: join(ARTIFACTS, 'figma-ui-disconnected.png') });
      // Connecting: a port that accepts TCP and never answers the upgrade holds the UI there.
      await withSilentPort(async (silent) => {
        await page.fill('#token', daemon.token);
        await page.fill('#port', String(silent));
        await page.click('#connect');
        await page.waitForFunction(() => /^Connecting to localhost:\d+/.test(document.getElementById('status-text')?.textContent ?? ''), undefined, { timeout: 15_000 });
        await page.screenshot({ path: join(ARTIFACTS, 'figma-ui-connecting.png') });
      });
      await page.click('#toggle-settings');
      await page.fill('#port', String(daemon.port));
      await page.click('#connect');
      await waitConnected(ui);
      assert.match(await statusText(ui), /^Connected · ipa-bridge .* · cpu$/);
      // The test engine has no tokenizer and no image encoder: the UI says what is missing and how to fetch it.
      assert.equal(await page.locator('#missing').isVisible(), true);
      assert.match(await page.locator('#missing-detail').innerText(), /text to image: no CLIP tokenizer; image prompts: no ViT-H image encoder/);
      assert.match(await page.locator('#missing-command').innerText(), /npx ipa-bridge models pull tokenizer && npx ipa-bridge models pull sd15-style/);
      assert.deepEqual(figma.storage.get(STORAGE_CONNECTION), { port: daemon.port, token: daemon.token }, 'the token is stored once, through the sandbox');
      await page.screenshot({ path: join(ARTIFACTS, 'figma-ui-ready.png') });

      // Roles: select a node in the "canvas", press the button in the UI.
      figma.select(nodes.ref);
      await page.waitForFunction(() => document.getElementById('target-name')?.textContent === 'Brand moodboard');
      await page.click('#mark-reference');
      figma.select(nodes.pose);
      await page.waitForFunction(() => document.getElementById('target-name')?.textContent === 'Pose sketch');
      await page.click('#mark-control');
      await page.waitForFunction(() => document.querySelectorAll('#roles li[data-id]').length === 2);
      assert.equal(nodes.ref.getPluginData(KEY_ROLE), 'reference');
      assert.equal(nodes.pose.getPluginData(KEY_ROLE), 'control');
      assert.deepEqual(await page.locator('#roles li[data-id] .grow').allInnerTexts(), ['Brand moodboard', 'Pose sketch']);

      // Target + prompt + settings.
      figma.select(nodes.hero);
      await page.waitForFunction(() => document.getElementById('target-name')?.textContent === 'Hero banner');
      assert.match(await page.locator('#target-meta').innerText(), /Frame · 400×300/);
      assert.equal(await page.locator('#generate').innerText(), 'Write a prompt');
      await page.fill('#prompt', 'sunlit product shot of a sneaker on a pastel podium');
      await page.selectOption('#variations', '2');
      await page.fill('#steps', '12');
      await page.fill('#seed', '4242');
      assert.equal(await page.locator('#generate').innerText(), 'Generate 2 variations');
      await page.click('#generate');
      await waitRun(ui, 'running', 15_000);
      await page.waitForFunction(() => (document.querySelector('#previews canvas') as HTMLCanvasElement | null)?.width === 8, null, { timeout: 15_000 });
      await waitRun(ui, 'done');
      assert.match(await page.locator('#run-text').innerText(), /2 variations placed \(seed 4242–4243\)/);

      // What the sandbox exported and what it received back.
      const exp = ui.fromUi.find((m) => m.type === 'export');
      assert.ok(exp && exp.type === 'export' && exp.wantInit && exp.budget.maxPixels === 1024 * 1024 && exp.budget.maxSide === 4096);
      const ins = inserts(ui);
      assert.equal(ins.length, 1);
      assert.equal(ins[0].placement, 'fill');
      assert.equal(ins[0].targetId, nodes.hero.id);
      assert.equal(ins[0].images.length, 2);
      const heroExport = figma.exports.find((e) => e.nodeId === nodes.hero.id)!;
      for (const [i, img] of ins[0].images.entries()) {
        assert.ok(fromUiAsUint8.has(img.bytes), 'result bytes crossed postMessage as a Uint8Array');
        const info = await png(img.bytes);
        assert.equal(info.format, 'png');
        assert.deepEqual([info.width, info.height], [heroExport.width, heroExport.height], 'the result has the exported size');
        assert.deepEqual([img.width, img.height], [info.width, info.height]);
        assert.equal(img.record.seed, 4242 + i);
        assert.equal(img.record.params.steps, 12);
        assert.equal(img.record.references.length, 1);
        assert.equal(img.record.controls.length, 1);
      }
      assert.ok(heroExport.width * heroExport.height > 0.99 * 1024 * 1024 && heroExport.width * heroExport.height <= 1024 * 1024);

      // The document: the frame holds variation 1 (old fill hidden), a clone beside it holds variation 2.
      assert.equal(nodes.hero.fills.length, 2);
      assert.equal(nodes.hero.fills[0].visible, false);
      const heroPaint = nodes.hero.fills[1] as ImagePaint;
      assert.equal(heroPaint.type, 'IMAGE');
      assert.deepEqual(figma.images.get(heroPaint.imageHash!), ins[0].images[0].bytes, 'createImage got the daemon\'s bytes');
      assert.equal(JSON.parse(nodes.hero.getPluginData(KEY_RECORD)).seed, 4242);
      const clone = figma.currentPage.children.find((n) => n.name === 'Hero banner · seed 4243');
      assert.ok(clone, 'the second variation is a clone named with its seed');
      assert.equal(clone.x, 400 + 20);

      await page.waitForFunction(() => document.querySelectorAll('#previews canvas').length === 2);
      await page.evaluate(() => document.querySelector('main')!.scrollTo(0, 0));
      await page.screenshot({ path: join(ARTIFACTS, 'figma-ui-result.png') });
      await page.setViewportSize({ width: 320, height: 1100 }); // the whole panel, for review
      await page.screenshot({ path: join(ARTIFACTS, 'figma-ui-full.png') });
      await page.setViewportSize({ width: 320, height: 640 });

      // Regenerate: the frame is now a generated node; same seed and settings → the same pixels.
      await page.waitForFunction(() => !document.getElementById('record')!.hidden);
      assert.match(await page.locator('#record-text').innerText(), /seed 4242/);
      const regen = await runToInsert(ui, '#regenerate');
      assert.equal(regen.placement, 'fill');
      assert.equal(regen.images.length, 1);
      assert.equal(regen.images[0].record.seed, 4242);
      assert.deepEqual(await pixels(regen.images[0].bytes), await pixels(ins[0].images[0].bytes), 'regenerate reproduces the pixels exactly');
      assert.equal(nodes.hero.fills.length, 2, 'the generated paint was replaced, not stacked');
      assert.equal(JSON.parse(nodes.hero.getPluginData(KEY_PAINT)).visibility[0], true, 'the original fill is remembered as visible');

      // Variation: the same seed with a variation seed mixed in, placed beside as a rectangle.
      const vari = await runToInsert(ui, '#variation');
      assert.equal(vari.placement, 'beside');
      assert.equal(vari.images[0].record.seed, 4242);
      assert.equal(vari.images[0].record.variation?.strength, 0.25);
      const rect = figma.currentPage.children.find((n) => n.type === 'RECTANGLE' && n.name.startsWith(`[IPA] ${vari.images[0].record.seed} `));
      assert.ok(rect, 'variation rectangle named with its seed');
      assert.deepEqual([rect.width, rect.height], [400, 300]);
    } finally {
      await ui.close();
    }
  });

  test('text only, placed beside: no init pixels, a generation size with the frame\'s aspect', async () => {
    let hero!: FakeNode;
    const ui = await rig.openUi((f) => {
      hero = f.add('FRAME', 'Wide', { x: 0, y: 0, width: 800, height: 400 }, RED);
      f.select(hero);
      storeToken(f, daemon.port, daemon.token);
    });
    try {
      await waitConnected(ui);
      await ui.page.fill('#prompt', 'abstract gradient');
      await ui.page.uncheck('#useInit');
      await ui.page.click('#placement [data-v=beside]');
      await ui.page.fill('#steps', '4');
      await ui.page.click('#generate');
      await waitRun(ui, 'done');
      const ins = inserts(ui)[0];
      assert.equal(ins.placement, 'beside');
      const { width, height } = ins.images[0];
      assert.ok(width % 8 === 0 && height % 8 === 0 && Math.abs(width / height - 2) < 0.05, `${width}x${height}: 2:1 on the 8-pixel grid`);
      assert.ok(Math.abs(width * height - 512 * 512) < 0.05 * 512 * 512, 'about 512² (SD1.5)');
      assert.equal(ui.figma.exports.length, 0, 'nothing exported for a text-only job');
      assert.deepEqual(hero.fills, [{ type: 'SOLID', color: RED }], 'the source frame is untouched');
      // The settings were saved (debounced) through the sandbox.
      await ui.page.waitForTimeout(500);
      const saved = ui.fromUi.filter((m) => m.type === 'save-settings').at(-1);
      assert.ok(saved && saved.type === 'save-settings' && saved.placement === 'beside' && saved.settings.useInit === false);
    } finally {
      await ui.close();
    }
  });

  test('cancel stops a running job and nothing is inserted', () =>
    midRun('slow', 150, 3, async (ui) => {
      await ui.page.waitForFunction(() => document.querySelectorAll('#previews canvas').length > 0, null, { timeout: 15_000 });
      await ui.page.screenshot({ path: join(ARTIFACTS, 'figma-ui-running.png') });
      await ui.page.click('#cancel');
      await waitRun(ui, 'cancelled', 10_000);
      assert.equal(await ui.page.locator('#run-text').innerText(), 'Cancelled.');
      assert.equal(inserts(ui).length, 0);
      assert.equal(await ui.page.locator('#generate').isEnabled(), true, 'ready for the next run');
    }));

  test('a connection dropped mid-job reconnects, picks the job up again and still inserts the result', () =>
    midRun('resume me', 40, 2, async (ui) => {
      await ui.page.evaluate(() => (window as unknown as { __sockets: WebSocket[] }).__sockets.at(-1)!.close());
      await waitRun(ui, 'reconnecting', 5000);
      await waitRun(ui, 'done', 30_000);
      assert.equal(inserts(ui).length, 1);
      assert.equal(await ui.page.evaluate(() => (window as unknown as { __sockets: WebSocket[] }).__sockets.length), 2, 'one reconnect');
      assert.match(await statusText(ui), /^Connected/);
    }));

  test('error state: daemon not running → how to start it, retrying with backoff', async () => {
    const port = await freePort();
    const ui = await rig.openUi((f) => storeToken(f, port, 'whatever'));
    try {
      await ui.page.waitForFunction(() => !document.getElementById('problem')!.hidden, null, { timeout: 10_000 });
      assert.equal(await ui.page.locator('#problem-title').innerText(), 'The ipa-bridge daemon is not running');
      assert.equal(await ui.page.locator('#problem-command').innerText(), `npx ipa-bridge start --port ${port}`);
      assert.match(await ui.page.locator('#problem-detail').innerText(), /npm start/);
      await ui.page.waitForFunction(() => /Retrying in \d+ s/.test(document.getElementById('problem-retry')!.textContent ?? ''));
      assert.equal(await ui.page.locator('#generate').innerText(), 'Connect to the daemon first');
      await ui.page.screenshot({ path: join(ARTIFACTS, 'figma-ui-error.png') });
      // It keeps trying on its own: more sockets over time.
      await ui.page.waitForFunction(() => (window as unknown as { __sockets: unknown[] }).__sockets.length >= 3, null, { timeout: 10_000 });
    } finally {
      await ui.close();
    }
  });

  test('error state: wrong token → refused, token field shown, no retry loop; fixing the token connects', async () => {
    const ui = await rig.openUi((f) => storeToken(f, daemon.port, 'not-the-token'));
    try {
      await ui.page.waitForFunction(() => !document.getElementById('problem')!.hidden, null, { timeout: 10_000 });
      assert.equal(await ui.page.locator('#problem-title').innerText(), 'The daemon refused the connection');
      assert.equal(await ui.page.locator('#problem-command').innerText(), 'npx ipa-bridge token');
      assert.equal(await ui.page.locator('#connection').isVisible(), true);
      await ui.page.screenshot({ path: join(ARTIFACTS, 'figma-ui-wrong-token.png') });
      await ui.page.waitForTimeout(1500);
      assert.equal(await ui.page.evaluate(() => (window as unknown as { __sockets: unknown[] }).__sockets.length), 1, 'no automatic retries');
      await ui.page.fill('#token', daemon.token);
      await ui.page.click('#connect');
      await waitConnected(ui);
      assert.equal(await ui.page.locator('#problem').isVisible(), false);
    } finally {
      await ui.close();
    }
  });

  test('error state: version mismatch shows the daemon\'s message', async () => {
    const http = (await import('node:http')).createServer((_q, r) => r.writeHead(426).end());
    const wss = new WebSocketServer({ server: http });
    const advice = 'This plugin speaks protocol 1, but the ipa-bridge daemon speaks protocol 2: update the plugin (reinstall it from the bridge\'s dist/ folder, or from the plugin store).';
    wss.on('connection', (ws) => ws.once('message', () => {
      ws.send(JSON.stringify({ type: 'error', code: 'version-mismatch', message: advice, serverProtocol: 2 }));
      ws.close(4001, 'protocol version mismatch');
    }));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const port = (http.address() as { port: number }).port;
    const ui = await rig.openUi((f) => storeToken(f, port, 't'));
    try {
      await ui.page.waitForFunction(() => !document.getElementById('problem')!.hidden, null, { timeout: 10_000 });
      assert.equal(await ui.page.locator('#problem-title').innerText(), 'Plugin and daemon versions differ');
      assert.equal(await ui.page.locator('#problem-detail').innerText(), advice);
      assert.match(await ui.page.locator('#problem-retry').innerText(), /Not retrying/);
      await ui.page.screenshot({ path: join(ARTIFACTS, 'figma-ui-version.png') });
    } finally {
      await ui.close();
      wss.close();
      http.close();
    }
  });
});

async function pixels(bytes: Uint8Array): Promise<Buffer> {
  return sharp(bytes).raw().toBuffer();
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}
