/**
 * Few-step samplers (TCD, the trailing family, sgm-uniform): the SDXL fixture cases (diffusers 0.30.3)
 * and the properties of each schedule that no fixture pins down.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { noise } from '../../engine/noise.ts';
import { formatReport, runCase } from '../../engine/parity/run.ts';
import { createScheduler, fromDiffusersConfig, TcdScheduler } from '../../engine/schedulers/index.ts';
import { alphasCumprod, SD15_SCHEDULER_CONFIG, trainSigmas } from '../../engine/schedulers/schedule.ts';
import { logSigmaAt, sgmUniformTimesteps } from '../../engine/schedulers/euler.ts';
import { tcdTimestepS } from '../../engine/schedulers/tcd.ts';

const sdxl = process.env.IPA_FIXTURES_SDXL ?? join(import.meta.dirname, '../../../shared/fixtures-sdxl');

for (const name of ['scheduler-tcd', 'scheduler-euler-trailing', 'scheduler-lcm-4']) {
  test(`fixture ${name} (SDXL config): every step, timestep, sigma and scale within tolerance`, async () => {
    const r = await runCase(join(sdxl, name));
    assert.ok(r.pass, formatReport(r));
    assert.ok(r.checks.length >= 5, `${name}: only ${r.checks.length} checks`);
  });
}

const table = trainSigmas(alphasCumprod(SD15_SCHEDULER_CONFIG));

test('trailing samplers: timesteps end at T-1, steps_offset unused; init sigma = sigma_max', () => {
  for (const name of ['euler-trailing', 'euler-ancestral-trailing', 'ddim-trailing'] as const) {
    assert.deepEqual([...createScheduler(name, 4).timesteps], [999, 749, 499, 249], name);
    assert.equal(createScheduler(name, 1).timesteps[0], 999, name);
  }
  const e = createScheduler('euler-trailing', 4);
  assert.ok(Math.abs(e.initNoiseSigma - table[999]) < 1e-6);
  assert.equal(e.sigmas![4], 0);
  assert.equal(e.name, 'euler-trailing');
  assert.ok(createScheduler('euler-ancestral-trailing', 4).stochastic);
  assert.ok(!createScheduler('ddim-trailing', 4).stochastic);
});

test('sgm-uniform: fractional timesteps evenly from 999, log-sigma interpolation, then 0', () => {
  assert.deepEqual(sgmUniformTimesteps(1000, 4), [999, 749.25, 499.5, 249.75]);
  const s = createScheduler('sgm-uniform', 4);
  assert.deepEqual([...s.timesteps], [999, 749.25, 499.5, 249.75]);
  const sig = s.sigmas!;
  assert.equal(sig.length, 5);
  assert.equal(sig[4], 0);
  for (let i = 0; i < 4; i++) assert.ok(sig[i] > sig[i + 1], `sigma ${i} decreasing`);
  assert.ok(Math.abs(sig[0] - table[999]) < 1e-5);
  // Between two training timesteps the sigma is their geometric mean at the midpoint.
  assert.ok(Math.abs(sig[2] - Math.sqrt(table[499] * table[500])) < 1e-5);
  assert.ok(Math.abs(logSigmaAt(10, table) - table[10]) < 1e-6);
  assert.ok(Math.abs(s.initNoiseSigma - sig[0]) < 1e-6);
});

test('tcd: s = floor((1 - gamma) t_prev); gamma 0 is deterministic, the last step draws no noise', () => {
  const steps = [999, 759, 499, 259];
  assert.deepEqual(steps.map((_, i) => tcdTimestepS(steps, i, 0.3)), [531, 349, 181, 0]);
  assert.deepEqual(steps.map((_, i) => tcdTimestepS(steps, i, 0)), [759, 499, 259, 0]);
  const x0 = noise(1, [1, 4, 8, 8]);
  const eps = noise(2, [1, 4, 8, 8]);
  const det = createScheduler('tcd', 4, { eta: 0 });
  assert.ok(!det.stochastic);
  let y = x0;
  for (let i = 0; i < 4; i++) y = det.step(eps, i, y); // no noise source needed
  assert.ok(y.every(Number.isFinite));
  const tcd = createScheduler('tcd', 4);
  assert.ok(tcd instanceof TcdScheduler && tcd.gamma === 0.3 && tcd.stochastic);
  let draws = 0;
  const src = (len: number): Float32Array => noise(++draws, [len]);
  y = x0;
  for (let i = 0; i < 4; i++) y = tcd.step(eps, i, y, src);
  assert.equal(draws, 3);
  assert.throws(() => createScheduler('tcd', 4, { eta: 1.5 }), RangeError);
  // With gamma 0 and epsilon = the true noise of x = sqrt(a) x0 + sqrt(1-a) eps, one step recovers x0 exactly.
  const one = createScheduler('tcd', 1, { eta: 0 });
  const a = one.alphasCumprod[one.timesteps[0]];
  const clean = noise(5, [16]);
  const e = noise(6, [16]);
  const noisy = clean.map((v, k) => Math.sqrt(a) * v + Math.sqrt(1 - a) * e[k]);
  one.step(e, 0, noisy);
  for (let k = 0; k < 16; k++) assert.ok(Math.abs(one.lastDenoised![k] - clean[k]) < 1e-4);
});

test('fromDiffusersConfig: TCDScheduler and trailing configs name the few-step samplers', () => {
  const sdxlBase = { beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', steps_offset: 1, timestep_spacing: 'leading' };
  assert.equal(fromDiffusersConfig(sdxlBase, 'TCDScheduler').sampler, 'tcd');
  assert.equal(fromDiffusersConfig({ ...sdxlBase, timestep_spacing: 'trailing' }, 'EulerDiscreteScheduler').sampler, 'euler-trailing');
  assert.equal(fromDiffusersConfig({ ...sdxlBase, timestep_spacing: 'trailing' }, 'EulerAncestralDiscreteScheduler').sampler, 'euler-ancestral-trailing');
  assert.equal(fromDiffusersConfig({ ...sdxlBase, timestep_spacing: 'trailing' }, 'DDIMScheduler').sampler, 'ddim-trailing');
  assert.equal(fromDiffusersConfig(sdxlBase, 'EulerDiscreteScheduler').sampler, 'euler');
});
