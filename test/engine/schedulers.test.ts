import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { SamplerName } from '../../engine/api.ts';
import { SAMPLERS } from '../../engine/api.ts';
import { noise, stepNoiseSource } from '../../engine/noise.ts';
import type { FixtureCase } from '../../engine/parity/fixture.ts';
import { runSchedulerCase, runSchedulerImg2ImgCase } from '../../engine/parity/kinds/scheduler.ts';
import { createScheduler, fromDiffusersConfig } from '../../engine/schedulers/index.ts';
import { SafetensorsFile } from '../../engine/weights/safetensors.ts';

const fixtures = process.env.IPA_FIXTURES ?? join(import.meta.dirname, '../../../shared/fixtures');

/**
 * Loads a scheduler case directly: the DPM case.json files hold `-Infinity` (Python's json output), which
 * JSON.parse rejects, so it is read as the float it means.
 */
function loadSchedulerCase(name: string): FixtureCase {
  const dir = join(fixtures, name);
  const text = readFileSync(join(dir, 'case.json'), 'utf8').replace(/:\s*(-?)Infinity\b/g, ': $11e999');
  const j = JSON.parse(text) as { kind: string; config: Record<string, unknown>; io: string; params: Record<string, unknown>; tolerance: { atol: number; rtol: number } };
  return {
    name: basename(dir), dir, kind: j.kind, description: '', config: j.config, weights: {}, weightsFormat: {},
    io: SafetensorsFile.open(join(dir, j.io)), params: j.params, tolerance: j.tolerance,
  };
}

for (const s of ['ddim', 'euler', 'euler-ancestral', 'dpmpp-2m', 'dpmpp-2m-karras', 'lcm', 'unipc']) {
  test(`fixture scheduler-${s}: every step, timestep, sigma and scale within tolerance`, async () => {
    const results = await runSchedulerCase(loadSchedulerCase(`scheduler-${s}`));
    assert.ok(results.length >= 5);
    for (const r of results) assert.ok(r.pass, `${r.name}: ${r.detail ?? ''} (max|err| ${r.maxAbsError})`);
  });
}

test('fixture scheduler-img2img: timesteps by strength and add_noise coefficients', async () => {
  const results = await runSchedulerImg2ImgCase(loadSchedulerCase('scheduler-img2img'));
  assert.ok(results.length >= 42);
  for (const r of results) assert.ok(r.pass, `${r.name}: ${r.detail ?? ''}`);
});

test('timesteps of common SD1.5 settings', () => {
  assert.deepEqual(createScheduler('ddim', 20).timesteps.slice(0, 3), [951, 901, 851]);
  assert.deepEqual(createScheduler('lcm', 4).timesteps, [999, 759, 499, 259]);
  const e = createScheduler('euler', 20);
  assert.equal(e.timesteps[0], 999);
  assert.equal(e.timesteps[19], 0);
  assert.equal(e.sigmas!.length, 21);
  assert.equal(e.sigmas![20], 0);
  assert.ok(Math.abs(e.initNoiseSigma - 14.614645) < 1e-5);
  assert.deepEqual(createScheduler('dpmpp-2m', 20).timesteps.slice(0, 3), [999, 949, 899]);
  assert.equal(createScheduler('unipc', 1).timesteps.length, 1);
});

test('timestepsForStrength follows get_timesteps, including its edges', () => {
  const s = createScheduler('ddim', 20);
  assert.deepEqual(s.timestepsForStrength(1), { startIndex: 0, timesteps: s.timesteps });
  assert.deepEqual(s.timestepsForStrength(0.3), { startIndex: 14, timesteps: s.timesteps.slice(14) });
  assert.deepEqual(s.timestepsForStrength(0), { startIndex: 20, timesteps: [] });
  assert.deepEqual(s.addNoiseCoeffs(20), [1, 0]);
  assert.throws(() => s.timestepsForStrength(1.2), RangeError);
});

const shape = [1, 4, 8, 8];
const n = 4 * 8 * 8;

/** A toy epsilon model: a fixed mix of the sample and a constant pattern. */
function fakeEps(x: Float32Array, t: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let k = 0; k < x.length; k++) out[k] = 0.3 * x[k] / Math.sqrt(1 + t / 100) + Math.sin(k + t / 50);
  return out;
}

function sample(name: SamplerName, steps: number, seed: number, start = 0, init?: Float32Array): Float32Array {
  const s = createScheduler(name, steps);
  const z = noise(seed, shape);
  let x = init ? s.addNoise(init, z, start) : Float32Array.from(z, (v) => v * s.initNoiseSigma);
  const src = stepNoiseSource(seed);
  for (let i = start; i < steps; i++) x = s.step(fakeEps(s.scaleModelInput(x, i), s.timesteps[i]), i, x, src);
  return x;
}

test('every sampler is deterministic for a seed and returns finite latents', () => {
  for (const name of SAMPLERS) {
    const a = sample(name, 6, 11);
    assert.equal(a.length, n);
    assert.ok(a.every(Number.isFinite), name);
    assert.deepEqual(a, sample(name, 6, 11), name);
  }
});

test('a scheduler reused for a second run resets its multistep history', () => {
  for (const name of ['dpmpp-2m', 'unipc', 'dpmpp-2m-karras'] as const) {
    const s = createScheduler(name, 5);
    const run = (): Float32Array => {
      let x = noise(3, shape);
      for (let i = 0; i < 5; i++) x = s.step(fakeEps(x, s.timesteps[i]), i, x);
      return x;
    };
    assert.deepEqual(run(), run(), name);
  }
});

test('img2img runs start at startIndex with a fresh history', () => {
  const init = noise(8, shape).map((v) => v * 0.5);
  for (const name of SAMPLERS) {
    const s = createScheduler(name, 10);
    const { startIndex } = s.timestepsForStrength(0.5);
    assert.equal(startIndex, 5);
    const x = sample(name, 10, 2, startIndex, init);
    assert.ok(x.every(Number.isFinite), name);
  }
});

test('stochastic samplers need a noise source; LCM draws none at its last step', () => {
  const x = noise(1, shape);
  const eps = noise(2, shape);
  assert.throws(() => createScheduler('euler-ancestral', 4).step(eps, 0, x), /noise/);
  const lcm = createScheduler('lcm', 4);
  let draws = 0;
  const src = (len: number): Float32Array => {
    draws++;
    return noise(draws, [len]);
  };
  let y = x;
  for (let i = 0; i < 4; i++) y = lcm.step(eps, i, y, src);
  assert.equal(draws, 3);
  assert.deepEqual(y, lcm.lastDenoised);
  assert.throws(() => lcm.step(eps, 0, x, noise(1, [3])), RangeError);
  assert.throws(() => createScheduler('lcm', 51), RangeError);
  // DDIM with eta > 0 is stochastic.
  assert.ok(createScheduler('ddim', 4, { eta: 1 }).stochastic);
});

test('scaleModelInput and inputScale agree', () => {
  const s = createScheduler('euler', 10);
  const x = noise(4, shape);
  const y = s.scaleModelInput(x, 3);
  assert.ok(Math.abs(y[7] - x[7] * s.inputScale(3)) < 1e-7);
  assert.equal(createScheduler('ddim', 10).inputScale(0), 1);
});

test('fromDiffusersConfig reads SD1.5 configs and refuses what is not implemented', () => {
  const base = { _class_name: 'DPMSolverMultistepScheduler', beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', steps_offset: 1, use_karras_sigmas: true };
  assert.equal(fromDiffusersConfig(base).sampler, 'dpmpp-2m-karras');
  assert.equal(fromDiffusersConfig({ ...base, use_karras_sigmas: false }).config.stepsOffset, 1);
  assert.throws(() => fromDiffusersConfig({ ...base, prediction_type: 'v_prediction' }), /prediction_type/);
  assert.throws(() => fromDiffusersConfig({ _class_name: 'PNDMScheduler' }), /unsupported/);
  assert.throws(() => fromDiffusersConfig({ _class_name: 'EulerDiscreteScheduler', use_karras_sigmas: true }), /karras/);
});
