/**
 * The setup the built-panel tests share: the panel bundle built into a temporary folder and wrapped so
 * it runs with only UXP's globals (uxp-globals.ts), the fake Photoshop host script, a real test daemon,
 * and headless Chromium showing the panel. What was started is closed in `after`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.ts';
import { ROOT, startTestDaemon, type TestDaemon, type TestDaemonOptions } from '../helpers/daemon.ts';
import { buildFakeHost, buildPanel, readText } from './build-panel.ts';
import { buildRestrictScript, wrapForUxp } from './uxp-globals.ts';

/** Where the tests save their screenshots. */
export const ARTIFACTS = join(ROOT, 'test-artifacts');

export interface PanelPageOptions {
  /** Names the temporary build folder. */
  tmpPrefix: string;
  daemon: TestDaemonOptions;
  viewportHeight: number;
  /** `window.__ipaFakeConfig`, read by the fake host (scene options and the like). */
  fakeConfig: Record<string, unknown>;
  /** Runs in the page after the fake host is set up and before UXP's globals are restricted. */
  afterFake?: string;
}

export interface PanelPage {
  page: Page;
  daemon: TestDaemon;
  /** Uncaught page errors so far. */
  errors: string[];
}

/** Registers the `after` that closes what `open` starts; call once per test file. */
export function usePanelRig(): { open(o: PanelPageOptions): Promise<PanelPage> } {
  let dir = '';
  let daemon: TestDaemon | null = null;
  let browser: Browser | null = null;
  after(async () => {
    await browser?.close();
    await daemon?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    async open(o) {
      dir = mkdtempSync(join(tmpdir(), o.tmpPrefix));
      mkdirSync(ARTIFACTS, { recursive: true });
      await buildPanel(dir);
      writeFileSync(join(dir, 'index.js'), wrapForUxp(readText(join(dir, 'index.js'))));
      const fake = await buildFakeHost();
      const restrict = await buildRestrictScript();
      const started = await startTestDaemon(o.daemon);
      daemon = started;
      browser = await launchBrowser();
      const page = await browser.newPage({ viewport: { width: 320, height: o.viewportHeight }, deviceScaleFactor: 2 });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      const scripts = [`window.__ipaFakeConfig = ${JSON.stringify(o.fakeConfig)};`, fake, ...(o.afterFake ? [o.afterFake] : []), restrict];
      await page.addInitScript({ content: scripts.join('\n') });
      await page.goto(pathToFileURL(join(dir, 'index.html')).href);
      return { page, daemon: started, errors };
    },
  };
}

/** Pairs the panel with the daemon through its connection box, as the user does the first time. */
export async function connectPanel(page: Page, daemon: TestDaemon): Promise<void> {
  await page.waitForSelector('#connBox:not(.hidden)');
  await page.fill('#token input', daemon.token);
  await page.fill('#port input', String(daemon.port));
  await page.click('#connect');
  await page.waitForFunction(() => document.getElementById('statusText')?.textContent === 'Connected', undefined, { timeout: 15_000 });
}

/** What the panel touched that UXP does not provide (logged by the restrict script). */
export function uxpViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __ipaUxpViolations: string[] }).__ipaUxpViolations);
}
