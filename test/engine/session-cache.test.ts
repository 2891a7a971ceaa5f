/** The session cache's disk and memory bounds: when the optimised copy is written, and how many merged graphs stay. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MEMORY_LOCATION } from '../../engine/onnx/builder.ts';
import { optimizedCacheFits, pruneMergedGraphs } from '../../engine/runtime/session.ts';

const GiB = 1024 ** 3;

test('the optimised copy is written for an SD1.5 UNet on a 24 GiB machine, not for an SDXL one', () => {
  assert.equal(optimizedCacheFits(3.2e9, 24 * GiB), true, 'SD1.5 UNet, fp32 (peaked at 1.48× when written)');
  assert.equal(optimizedCacheFits(4.27e9, 24 * GiB), true, 'a whole SD1.5 single-file checkpoint');
  assert.equal(optimizedCacheFits(10.3e9, 24 * GiB), false, 'SDXL UNet, fp32 (passed 15.7 GiB and kept rising)');
  assert.equal(optimizedCacheFits(6.9e9, 24 * GiB), false, 'SDXL single file, fp16: widened to fp32 at load');
  assert.equal(optimizedCacheFits(6.9e9, 64 * GiB), true, 'the same file on a 64 GiB machine');
});

test('graph folders with merged weights (a LoRA, a strength) are pruned to the most recently used', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipa-graphs-'));
  const folder = (name: string, merged: boolean, usedAt: number): string => {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'model.onnx'), '');
    if (merged) writeFileSync(join(dir, name, MEMORY_LOCATION), '');
    utimesSync(join(dir, name, 'model.onnx'), usedAt, usedAt);
    return name;
  };
  const [a, b, c] = [1, 2, 3].map((i) => folder(`unet-${String(i).repeat(16)}`, true, 1000 + i));
  const plain = folder(`unet-${'f'.repeat(16)}`, false, 1);
  const other = folder(`vae-${'a'.repeat(16)}`, true, 1);
  const longer = folder(`unet-inpaint-${'b'.repeat(16)}`, true, 1);
  assert.deepEqual(pruneMergedGraphs(dir, 'unet', 2), [a], 'the least recently used merged UNet goes');
  assert.deepEqual(readdirSync(dir).sort(), [b, c, plain, longer, other].sort(), 'plain graphs and other graphs stay');
  rmSync(dir, { recursive: true, force: true });
});
