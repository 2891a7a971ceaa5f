/**
 * Builds the panel for tests the way esbuild.config.mjs builds dist/photoshop/ (same entry and options:
 * IIFE, `photoshop`/`uxp` external, static files copied), into a folder of the test's own so a test run
 * never races a developer's `npm run build`. Also bundles the browser side of the fake host.
 */
import * as esbuild from 'esbuild';
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/daemon.ts';

const PS = join(ROOT, 'plugins/photoshop');

export async function buildPanel(outDir: string): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  await esbuild.build({
    entryPoints: [join(PS, 'src/index.ts')],
    outfile: join(outDir, 'index.js'),
    bundle: true,
    platform: 'neutral',
    mainFields: ['module', 'main'],
    target: 'es2020',
    format: 'iife',
    external: ['photoshop', 'uxp'],
    logLevel: 'warning',
  });
  cpSync(join(PS, 'manifest.json'), join(outDir, 'manifest.json'));
  cpSync(join(PS, 'index.html'), join(outDir, 'index.html'));
  if (existsSync(join(PS, 'icons'))) cpSync(join(PS, 'icons'), join(outDir, 'icons'), { recursive: true });
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
