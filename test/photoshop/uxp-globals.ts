/**
 * The globals a UXP panel has (docs/photoshop.md, "Web APIs the panel bundle uses", checked against
 * Adobe's UXP reference) and the page script that removes every other global before the panel bundle
 * loads. The headless-Chromium panel test runs under it, so a bundle that starts using anything else
 * (TextEncoder, crypto, structuredClone, requestAnimationFrame, …) throws there instead of in Photoshop.
 */
import * as esbuild from 'esbuild';
import { join } from 'node:path';
import vm from 'node:vm';
import { ROOT } from '../helpers/daemon.ts';

/** Web APIs UXP gives a panel, as the docs table lists them (DOM basics: `document` and what hangs off it). */
export const UXP_WEB_GLOBALS = [
  'window', 'document', 'console', 'WebSocket', 'fetch', 'localStorage', 'ImageBlob', 'URL', 'Blob',
  'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval',
  // UXP's module loader: `require('photoshop')`, `require('uxp')`.
  'require',
] as const;

/**
 * The language itself (Object, Promise, Uint8Array, Math, JSON, …): UXP runs V8, so every ECMAScript
 * global is there. Read off a fresh V8 context, which has exactly those and no web or Node APIs.
 */
export function ecmaScriptGlobals(): string[] {
  return vm.runInNewContext('Object.getOwnPropertyNames(globalThis)') as string[];
}

export interface GlobalsConfig {
  allowed: string[];
}

/**
 * The page script that sets up the restricted scope (uxp-globals-page.ts), for an init script: after
 * the fake host (which provides `require` and `ImageBlob`), before the bundle.
 */
export async function buildRestrictScript(): Promise<string> {
  const r = await esbuild.build({
    entryPoints: [join(ROOT, 'test/photoshop/uxp-globals-page.ts')],
    bundle: true, write: false, platform: 'browser', target: 'es2020', format: 'iife', logLevel: 'warning',
  });
  const cfg: GlobalsConfig = { allowed: [...UXP_WEB_GLOBALS, ...ecmaScriptGlobals()] };
  return `window.__ipaUxpGlobals = ${JSON.stringify(cfg)};\n${new TextDecoder().decode(r.outputFiles[0].contents)}`;
}

/**
 * The bundle as the test page runs it: inside `with (__ipaUxpScope)`, so each free name it uses goes
 * through the scope. The bundle's leading "use strict" has to go (strict code cannot contain `with`);
 * the code inside is otherwise byte for byte what dist/photoshop/index.js holds.
 */
export function wrapForUxp(bundle: string): string {
  const body = bundle.replace(/^\s*(['"])use strict\1;?/, '');
  return `with (window.__ipaUxpScope) {\n${body}\n}\n`;
}
