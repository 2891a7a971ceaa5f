/**
 * The restricted scope the panel test runs the bundle in (uxp-globals.ts) does what it claims: tiny
 * synthetic bundles, built with the panel's own esbuild options, fail on APIs UXP lacks — TextEncoder,
 * crypto (even when the bundle catches the error), structuredClone through `globalThis`, a `typeof`
 * probe for requestAnimationFrame — and one using only the listed globals runs clean. Also: every
 * allowed web global is named in docs/photoshop.md, so the list and the docs cannot drift apart.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as esbuild from 'esbuild';
import type { Browser } from 'playwright-core';
import { hasChromium, launchBrowser } from '../helpers/browser.ts';
import { ROOT } from '../helpers/daemon.ts';
import { buildRestrictScript, UXP_WEB_GLOBALS, wrapForUxp } from './uxp-globals.ts';

const skip = !hasChromium() && 'no chromium';
let browser: Browser | null = null;
let restrict = '';
let dir = '';
let pages = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ipa-uxp-globals-'));
  if (skip) return;
  restrict = await buildRestrictScript();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Bundles `source` as esbuild.config.mjs bundles the panel (IIFE, es2020) and runs it restricted. */
async function run(source: string): Promise<{ violations: string[]; errors: string[]; result: unknown }> {
  const built = await esbuild.build({
    stdin: { contents: source, loader: 'ts' }, bundle: true, external: ['photoshop', 'uxp'], write: false, platform: 'neutral', target: 'es2020', format: 'iife', logLevel: 'silent',
  });
  const page = await browser!.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // A stand-in for UXP's require() and ImageBlob, as the fake host provides them.
  await page.addInitScript({ content: `window.require = (id) => ({ id }); window.ImageBlob = Blob;\n${restrict}` });
  // A file:// page, as the panel test loads the panel (init scripts run on navigation, not on setContent).
  const html = join(dir, `synthetic-${++pages}.html`);
  writeFileSync(html, `<html><body><div id="x"></div><script>${wrapForUxp(new TextDecoder().decode(built.outputFiles[0].contents))}</script></body></html>`);
  await page.goto(pathToFileURL(html).href);
  await page.waitForTimeout(50);
  const out = await page.evaluate(() => {
    const w = window as unknown as { __ipaUxpViolations: string[]; __result?: unknown };
    return { violations: [...w.__ipaUxpViolations], result: w.__result };
  });
  await page.close();
  return { ...out, errors };
}

test('a bundle using TextEncoder fails', { skip }, async () => {
  const r = await run(`export const bytes = new TextEncoder().encode('é');`);
  assert.deepEqual(r.violations, ['TextEncoder']);
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0], /TextEncoder is not a constructor/);
});

test('caught, aliased and probed uses are caught too', { skip }, async () => {
  const r = await run(`
    try { crypto.getRandomValues(new Uint8Array(4)); } catch { /* a fallback would hide it */ }
    const clone = (globalThis as unknown as { structuredClone?: unknown }).structuredClone;
    const raf = typeof requestAnimationFrame === 'function';
    (window as unknown as { out: unknown }).out = [clone, raf, self];
  `);
  assert.deepEqual(r.violations.sort(), ['crypto', 'requestAnimationFrame', 'self', 'structuredClone']);
  assert.deepEqual(r.errors, []);
});

test('a bundle using only the listed globals runs clean', { skip }, async () => {
  const r = await run(`
    const ps = require('photoshop') as { id: string };
    const url = URL.createObjectURL(new ImageBlob([new Uint8Array(4)], {}));
    URL.revokeObjectURL(url);
    localStorage.setItem('k', JSON.stringify({ a: [1, 2] }));
    const el = document.getElementById('x')!;
    el.classList.add('on');
    el.addEventListener('click', () => undefined);
    const t = setTimeout(() => undefined, 1); clearTimeout(t);
    const i = setInterval(() => undefined, 1000); clearInterval(i);
    const ws = typeof WebSocket === 'function' && typeof fetch === 'function';
    const later = window.setTimeout(() => undefined, 1);
    console.log(ps.id, ws, later, Math.max(1, 2), new Uint16Array(2).length, Promise.resolve(1), new Map().size);
    (window as unknown as { __result: unknown }).__result = [ps.id, ws, localStorage.getItem('k')];
  `);
  assert.deepEqual(r.violations, []);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.result, ['photoshop', true, '{"a":[1,2]}']);
});

test('every allowed web global is in docs/photoshop.md', () => {
  const docs = readFileSync(join(ROOT, 'docs/photoshop.md'), 'utf8');
  const section = docs.slice(docs.indexOf('## Web APIs the panel bundle uses'));
  for (const name of UXP_WEB_GLOBALS) assert.ok(section.includes(`\`${name}`) || section.includes(`${name}(`), `${name} is not in the docs' table`);
});
