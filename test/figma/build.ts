/**
 * Builds the Figma plugin for tests into a private folder with esbuild's API, with the same options as
 * the figma targets of esbuild.config.mjs (that script wipes all of dist/, which would race with other
 * test files building in parallel). Returns the folder: manifest.json, code.js, ui.html.
 */
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { ROOT } from '../helpers/daemon.ts';

const FG = join(ROOT, 'plugins/figma');

export async function buildFigma(): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), 'ipa-figma-'));
  await esbuild.build({
    entryPoints: [join(FG, 'src/code.ts')], outfile: join(out, 'code.js'),
    bundle: true, platform: 'neutral', target: 'es2017', format: 'iife', logLevel: 'error',
  });
  await esbuild.build({
    entryPoints: [join(FG, 'src/ui.ts')], outfile: join(out, 'ui.js'),
    bundle: true, platform: 'browser', target: 'es2020', format: 'iife', logLevel: 'error',
  });
  copyFileSync(join(FG, 'manifest.json'), join(out, 'manifest.json'));
  const js = readFileSync(join(out, 'ui.js'), 'utf8').replace(/<\/script/gi, '<\\/script');
  writeFileSync(join(out, 'ui.html'), readFileSync(join(FG, 'ui.html'), 'utf8').replace('<!--UI_SCRIPT-->', `<script>${js}</script>`));
  return out;
}
