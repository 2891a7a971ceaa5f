// How the Photoshop panel is bundled, in one place: esbuild.config.mjs builds dist/photoshop/ with it
// and the panel test builds its own copy with it, so the test runs the bundle users get. Plain JS
// because esbuild.config.mjs runs under bare node; the types are in build-options.d.mts.
import { cpSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The panel's source folder (manifest.json, index.html, icons/, src/). */
export const PHOTOSHOP_PLUGIN_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

/** esbuild options that bundle the panel script into `<outDir>/index.js`. */
export function photoshopBundleOptions(outDir) {
  return {
    entryPoints: [join(PHOTOSHOP_PLUGIN_DIR, 'src/index.ts')],
    outfile: join(outDir, 'index.js'),
    bundle: true,
    platform: 'neutral',
    mainFields: ['module', 'main'],
    target: 'es2020',
    format: 'iife',
    // UXP provides these modules through require().
    external: ['photoshop', 'uxp'],
  };
}

/** Copies the files UXP loads beside the script (esbuild only bundles scripts). */
export function copyPhotoshopStaticFiles(outDir) {
  cpSync(join(PHOTOSHOP_PLUGIN_DIR, 'manifest.json'), join(outDir, 'manifest.json'));
  cpSync(join(PHOTOSHOP_PLUGIN_DIR, 'index.html'), join(outDir, 'index.html'));
  const icons = join(PHOTOSHOP_PLUGIN_DIR, 'icons');
  if (existsSync(icons)) cpSync(icons, join(outDir, 'icons'), { recursive: true });
}
