/**
 * The acceptance test of the engine: every case in ../shared/fixtures reproduces its reference
 * outputs on the CPU (cpu flavour) and on WebGPU (portable flavour, fp32 with the fixtures'
 * tolerances; portable-fp16 with FP16_TOLERANCES). Without a WebGPU adapter the WebGPU cases are
 * skipped with the reason shown; under CI=true a missing adapter fails the run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { listCases, loadCase } from '../../engine/parity/fixture.ts';
import { formatReport, runCase } from '../../engine/parity/run.ts';
import { CPU_TARGET, parityTarget, targetLabel, type ParityTarget } from '../../engine/parity/target.ts';
import { probeWebGpu } from '../helpers/webgpu.ts';

const fixtures = process.env.IPA_FIXTURES ?? join(import.meta.dirname, '../../../shared/fixtures');
const fixturesSdxl = process.env.IPA_FIXTURES_SDXL ?? join(import.meta.dirname, '../../../shared/fixtures-sdxl');
/**
 * The kinds of ../shared/fixtures-sdxl the engine implements so far (few-step schedulers, TAESD); the
 * other SDXL kinds join this list as they land.
 */
const SDXL_KINDS: ReadonlySet<string> = new Set([
  'scheduler', 'taesd-decoder', 'taesd-encoder',
  // the SDXL UNet side: UNet, ControlNet, IP-Adapter projections, masked image prompts, VAE, single-file naming
  'sdxl-unet', 'sdxl-unet-ip', 'sdxl-controlnet', 'ip-proj', 'unet-ip-masked', 'vae-decoder', 'vae-encoder', 'sdxl-weights-ldm',
  // the SDXL text side, image encoders and pipeline; the weights homes
  'tokenizer-2', 'sdxl-clip-text-l', 'sdxl-clip-text-g', 'clip-vision', 'sdxl-pipeline', 'weights-only',
]);
const sdxlCases = existsSync(fixturesSdxl) ? listCases(fixturesSdxl).filter((d) => SDXL_KINDS.has(loadCase(d).kind)) : [];
const cases = [...listCases(fixtures), ...sdxlCases];
const caseName = (dir: string): string => dir.split('/').pop() ?? dir;

// weights-ldm re-runs the other cases from single-file checkpoints with byte-identical tensors (its
// keys: checks prove that). Reading the names is the provider-independent part, checked on the CPU; on
// a GPU it would only repeat the other cases (~130 s of CI on lavapipe), so both WebGPU runs skip it.
const WEBGPU_SKIP: Readonly<Record<string, string>> = {
  'weights-ldm': 'repeats the other cases with identical tensors (the names are read, and checked, on the CPU run)',
  'sdxl-weights-ldm': 'repeats the other cases with identical tensors (the names are read, and checked, on the CPU run)',
};

function parityTests(t: ParityTarget, skip: string | false, skipCase: Readonly<Record<string, string>> = {}): void {
  const label = t === CPU_TARGET ? '' : `${targetLabel(t)} `;
  for (const dir of cases) {
    const name = caseName(dir);
    test(`parity ${label}${name}`, { skip: skip || skipCase[name] || false }, async () => {
      const r = await runCase(dir, t);
      assert.ok(r.pass, formatReport(r));
    });
  }
}

parityTests(CPU_TARGET, false);

const webgpu = probeWebGpu();
const noAdapter = webgpu.ok ? false : `no WebGPU adapter (${webgpu.reason})`;
if (noAdapter) {
  console.log(`# WebGPU parity skipped: ${noAdapter}`);
  if (process.env.CI === 'true') {
    test('a WebGPU adapter is available (required when CI=true)', () => assert.fail(noAdapter));
  }
}
parityTests(parityTarget('webgpu'), noAdapter, WEBGPU_SKIP);
parityTests(parityTarget('webgpu', true), noAdapter, WEBGPU_SKIP);
