// Builds the three deliverables into dist/:
//   dist/bridge/cli.mjs   the daemon + CLI (node, ESM; native packages stay external)
//   dist/bridge/engine-child.mjs   the engine process the daemon forks (bridge/engine-host/child.ts)
//   dist/photoshop/       a folder the UXP Developer Tool loads as is
//   dist/figma/           manifest.json, code.js (sandbox IIFE), ui.html (script inlined)
// `node esbuild.config.mjs --watch` rebuilds on change.
// `--team-host HOST:PORT` (npm run build -- --team-host studio.example.com:41873) lets both plugins
// reach that studio server: its wss:// and https:// origins go into the manifests (plugins/team-host.mjs).
import * as esbuild from 'esbuild';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PHOTOSHOP_PLUGIN_DIR, copyPhotoshopStaticFiles, photoshopBundleOptions } from './plugins/photoshop/scripts/build-options.mjs';
import { parseTeamHost, withTeamHostFigma, withTeamHostUxp } from './plugins/team-host.mjs';

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, 'dist');
const watch = process.argv.includes('--watch');
const teamHostArg = process.argv.indexOf('--team-host');
let teamHost = null;
try {
  teamHost = teamHostArg >= 0 ? parseTeamHost(process.argv[teamHostArg + 1]) : null;
} catch (e) {
  console.error(`build: ${e.message}`);
  process.exit(2);
}
/** Rewrites a copied manifest with the studio host, when one was given. */
const addTeamHost = (file, withHost) => {
  if (teamHost) writeFileSync(file, `${JSON.stringify(withHost(JSON.parse(readFileSync(file, 'utf8')), teamHost), null, 2)}\n`);
};

/** Copies static files after each build (esbuild only bundles scripts). */
const afterBuild = (name, fn) => ({
  name,
  setup(build) {
    build.onEnd((result) => {
      if (result.errors.length === 0) fn();
    });
  },
});

const targets = [];

targets.push({
  entryPoints: { 'bridge/cli': join(root, 'bridge/cli.ts'), 'bridge/engine-child': join(root, 'bridge/engine-host/child.ts') },
  outdir: dist,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  packages: 'external',
  sourcemap: true,
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
});

if (existsSync(join(PHOTOSHOP_PLUGIN_DIR, 'src/index.ts'))) {
  const out = join(dist, 'photoshop');
  targets.push({ ...photoshopBundleOptions(out), plugins: [afterBuild('photoshop-static', () => {
    copyPhotoshopStaticFiles(out);
    addTeamHost(join(out, 'manifest.json'), withTeamHostUxp);
  })] });
}

const fg = join(root, 'plugins/figma');
if (existsSync(join(fg, 'src/code.ts'))) {
  targets.push({
    entryPoints: [join(fg, 'src/code.ts')],
    outfile: join(dist, 'figma/code.js'),
    bundle: true,
    platform: 'neutral',
    target: 'es2017', // Figma's sandbox
    format: 'iife',
    plugins: [afterBuild('figma-manifest', () => {
      cpSync(join(fg, 'manifest.json'), join(dist, 'figma/manifest.json'));
      addTeamHost(join(dist, 'figma/manifest.json'), withTeamHostFigma);
    })],
  });
  targets.push({
    entryPoints: [join(fg, 'src/ui.ts')],
    outfile: join(dist, 'figma/ui.js'),
    bundle: true,
    platform: 'browser',
    target: 'es2020',
    format: 'iife',
    // Figma loads ui.html as one string: inline the script.
    plugins: [afterBuild('figma-ui-inline', () => {
      const html = readFileSync(join(fg, 'ui.html'), 'utf8');
      const js = readFileSync(join(dist, 'figma/ui.js'), 'utf8').replace(/<\/script/gi, '<\\/script');
      writeFileSync(join(dist, 'figma/ui.html'), html.replace('<!--UI_SCRIPT-->', `<script>${js}</script>`));
    })],
  });
}

if (!watch) rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
if (watch) {
  for (const t of targets) await (await esbuild.context(t)).watch();
  console.log('esbuild: watching for changes');
} else {
  await Promise.all(targets.map((t) => esbuild.build({ logLevel: 'warning', ...t })));
}
