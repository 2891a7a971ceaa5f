/** When the CPU session writes its optimised-graph copy: only where holding the graph twice fits in memory. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { optimizedCacheFits } from '../../engine/runtime/session.ts';

const GiB = 1024 ** 3;

test('the optimised copy is written for an SD1.5 UNet on a 24 GiB machine, not for an SDXL one', () => {
  assert.equal(optimizedCacheFits(3.2e9, 24 * GiB), true, 'SD1.5 UNet, fp32 (peaked at 1.48× when written)');
  assert.equal(optimizedCacheFits(4.27e9, 24 * GiB), true, 'a whole SD1.5 single-file checkpoint');
  assert.equal(optimizedCacheFits(10.3e9, 24 * GiB), false, 'SDXL UNet, fp32 (passed 15.7 GiB and kept rising)');
  assert.equal(optimizedCacheFits(6.9e9, 24 * GiB), false, 'SDXL single file, fp16: widened to fp32 at load');
  assert.equal(optimizedCacheFits(6.9e9, 64 * GiB), true, 'the same file on a 64 GiB machine');
});
