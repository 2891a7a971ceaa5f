/** `npm run parity -- <dir> [case-name-filter...]`: every fixture case under <dir>, one line each. */
import { resolve } from 'node:path';
import { listCases } from './fixture.ts';
import { formatReport, runCase } from './run.ts';

const args = process.argv.slice(2);
if (args.length === 0 || args.includes('--help')) {
  console.log('usage: npm run parity -- <fixtures-dir> [name-filter ...]\n\nRuns every case in <dir>/index.json (or <dir> itself if it holds a case.json),\ncompares every out.* tensor with its tolerance, prints one line per case and "N passed, M failed".');
  process.exit(args.length === 0 ? 2 : 0);
}
const [dir, ...filters] = args;
const cases = listCases(resolve(dir)).filter((c) => filters.length === 0 || filters.some((f) => c.includes(f)));
let passed = 0;
let failed = 0;
for (const c of cases) {
  const r = await runCase(c);
  console.log(formatReport(r));
  if (r.pass) passed++;
  else failed++;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
