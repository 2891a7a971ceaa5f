/**
 * Which file the engine child runs, and how: the daemon runs as the esbuild bundle
 * (dist/bridge/cli.mjs, whose child is dist/bridge/engine-child.mjs beside it) or from the TypeScript
 * sources (tests, bin/ipa-bridge.mjs in an unbuilt checkout), whose child is child.ts under tsx.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface ChildEntry {
  readonly path: string;
  readonly execArgv: string[];
}

export function childEntry(here: string = import.meta.url): ChildEntry {
  if (here.endsWith('.ts')) {
    // tsx by absolute URL: `--import tsx` would resolve from the daemon's working folder, which may
    // be anywhere (npx from a user's home); the parent may also have registered tsx in-process
    // (bin/ipa-bridge.mjs), which a child does not inherit.
    return { path: fileURLToPath(new URL('./child.ts', here)), execArgv: ['--import', import.meta.resolve('tsx')] };
  }
  const bundled = fileURLToPath(new URL('./engine-child.mjs', here));
  if (!existsSync(bundled)) throw new Error(`the engine child ${bundled} is missing: rebuild with npm run build`);
  return { path: bundled, execArgv: [] };
}
