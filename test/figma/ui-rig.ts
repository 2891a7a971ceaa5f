/**
 * The setup the Figma UI tests share: the plugin built once, a real test daemon and headless Chromium,
 * all started in `before` (at once) and closed in `after`; skipped where Debian's chromium is missing.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { Browser } from 'playwright-core';
import { hasChromium, launchBrowser } from '../helpers/browser.ts';
import { readThrough, ROOT, startTestDaemon, type TestDaemon, type TestDaemonOptions } from '../helpers/daemon.ts';
import { buildFigma } from './build.ts';
import type { FakeFigma } from './fake-figma.ts';
import { openUi, type FigmaTheme, type UiPage } from './ui-page.ts';

/** Where the tests save their screenshots. */
export const ARTIFACTS = join(ROOT, 'test-artifacts');

/** The `skip` for node:test: the reason, or false where Chromium is there. */
export const skip: string | false = hasChromium() ? false : 'Debian chromium is not installed';

export interface UiRig {
  readonly daemon: TestDaemon;
  /** The built ui.html in a new page, the sandbox on a FakeFigma that `setup` fills first. */
  openUi(setup?: (figma: FakeFigma) => void, theme?: FigmaTheme): Promise<UiPage>;
}

export function useUiRig(daemonOptions: TestDaemonOptions): UiRig {
  let started: { dist: string; daemon: TestDaemon; browser: Browser } | undefined;
  const current = () => {
    if (!started) throw new Error('the UI rig starts in before(); it is not running yet');
    return started;
  };
  before(async () => {
    if (skip) return;
    mkdirSync(ARTIFACTS, { recursive: true });
    const [dist, daemon, browser] = await Promise.all([buildFigma(), startTestDaemon(daemonOptions), launchBrowser()]);
    started = { dist, daemon, browser };
  });
  after(async () => {
    await started?.browser.close();
    await started?.daemon.stop();
  });
  return {
    daemon: readThrough(() => current().daemon),
    openUi: (setup, theme) => openUi(current().browser, current().dist, setup, theme),
  };
}
