/** The acceptance test of the engine: every case in ../shared/fixtures reproduces its reference outputs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { listCases } from '../../engine/parity/fixture.ts';
import { formatReport, runCase } from '../../engine/parity/run.ts';

const fixtures = process.env.IPA_FIXTURES ?? join(import.meta.dirname, '../../../shared/fixtures');

for (const dir of listCases(fixtures)) {
  test(`parity ${dir.split('/').pop()}`, async () => {
    const r = await runCase(dir);
    assert.ok(r.pass, formatReport(r));
  });
}
