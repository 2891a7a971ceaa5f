/**
 * Builds the panel for tests with the options esbuild.config.mjs builds dist/photoshop/ with
 * (plugins/photoshop/scripts/build-options.mjs), into a folder of the test's own so a test run
 * never races a developer's `npm run build`. Also bundles the browser side of the fake host.
 */
import * as esbuild from 'esbuild';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyPhotoshopStaticFiles, photoshopBundleOptions } from '../../plugins/photoshop/scripts/build-options.mjs';
import { ROOT } from '../helpers/daemon.ts';

export async function buildPanel(outDir: string): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  await esbuild.build({ ...photoshopBundleOptions(outDir), logLevel: 'warning' });
  copyPhotoshopStaticFiles(outDir);
}

/** The fake `photoshop`/`uxp` modules and a scene, as a script that defines `window.require`. */
export async function buildFakeHost(): Promise<string> {
  const r = await esbuild.build({
    entryPoints: [join(ROOT, 'test/photoshop/browser-fake.ts')],
    bundle: true,
    write: false,
    platform: 'browser',
    target: 'es2020',
    format: 'iife',
    logLevel: 'warning',
  });
  return new TextDecoder().decode(r.outputFiles[0].contents);
}

export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}
