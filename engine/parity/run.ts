/** Runs parity cases and reports one line each. */
import { compareOutputs, type CheckResult } from './compare.ts';
import { loadCase, type FixtureCase } from './fixture.ts';
import { caseForTarget, handlerFor } from './kinds.ts';
import { CPU_TARGET, targetLabel, type ParityTarget } from './target.ts';

export interface CaseReport {
  readonly name: string;
  readonly kind: string;
  /** Provider/flavour the case ran on ('cpu' for the CPU flavour). */
  readonly target: string;
  readonly pass: boolean;
  readonly maxAbsError: number;
  readonly checks: CheckResult[];
  readonly error?: string;
  readonly ms: number;
}

export async function runCase(dir: string, t: ParityTarget = CPU_TARGET): Promise<CaseReport> {
  const t0 = performance.now();
  let c: FixtureCase | undefined;
  try {
    c = caseForTarget(loadCase(dir), t);
    const handler = await handlerFor(c.kind);
    if (!handler) throw new Error(`no parity handler for kind "${c.kind}"`);
    const checks = await handler(c, t);
    if (checks.length === 0) throw new Error('handler compared nothing');
    const maxAbsError = Math.max(...checks.map((r) => r.maxAbsError));
    return { name: c.name, kind: c.kind, target: targetLabel(t), pass: checks.every((r) => r.pass), maxAbsError, checks, ms: performance.now() - t0 };
  } catch (e) {
    const err = e as Error;
    return { name: c?.name ?? dir, kind: c?.kind ?? '?', target: targetLabel(t), pass: false, maxAbsError: Infinity, checks: [], error: err.stack ?? err.message, ms: performance.now() - t0 };
  }
}

export function formatReport(r: CaseReport): string {
  const head = `${r.pass ? 'PASS' : 'FAIL'} ${r.name.padEnd(34)} max|err| ${r.maxAbsError.toExponential(2).padStart(9)}  ${r.ms.toFixed(0).padStart(6)} ms`;
  const bad = r.checks.filter((x) => !x.pass).map((x) => `    ${x.name}: ${x.detail ?? ''} (max|err| ${x.maxAbsError.toExponential(2)})`);
  if (r.error) bad.push(`    error: ${r.error.split('\n').slice(0, 4).join('\n    ')}`);
  return [head, ...bad].join('\n');
}

export { compareOutputs };
