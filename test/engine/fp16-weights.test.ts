/**
 * Most SD1.5 files people have are float16 (some bfloat16). The graph reads them in place and a Cast
 * (folded by onnxruntime at load) gives the fp32 CPU flavour: the UNet built from an fp16 copy of the
 * fixture weights must match the fp32 reference within fp16 rounding.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildUNet } from '../../engine/graphs/unet.ts';
import { createSession } from '../../engine/runtime/session.ts';
import { SafetensorsFile, encodeSafetensors, floatToHalf, type Dtype } from '../../engine/weights/safetensors.ts';
import { safetensorsSource } from '../../engine/weights/source.ts';

const fx = join(import.meta.dirname, '../../../shared/fixtures');
const dir = mkdtempSync(join(tmpdir(), 'ipa-f16-'));

function convert(src: string, dst: string, dtype: 'F16' | 'BF16'): void {
  const f = SafetensorsFile.open(src);
  const out: Record<string, { dtype: Dtype; shape: number[]; data: ArrayBufferView }> = {};
  for (const k of f.keys()) {
    const info = f.info(k);
    if (info.dtype !== 'F32') continue;
    const v = f.readFloat32(k);
    const h = dtype === 'F16' ? Uint16Array.from(v, floatToHalf) : Uint16Array.from(new Uint32Array(v.buffer), (u) => (u + 0x7fff + ((u >> 16) & 1)) >>> 16);
    out[k] = { dtype, shape: [...info.shape], data: h };
  }
  writeFileSync(dst, encodeSafetensors(out));
}

for (const dtype of ['F16', 'BF16'] as const) {
  test(`a UNet from ${dtype} weights matches the fp32 reference within ${dtype} rounding`, async () => {
    const file = join(dir, `unet-${dtype}.safetensors`);
    convert(join(fx, 'unet-basic/unet.safetensors'), file, dtype);
    const g = buildUNet(safetensorsSource(file), { flavour: 'cpu', control: false, ip: false, config: { heads: 2, normGroups: 8 } });
    const s = await createSession(g, { provider: 'cpu', cacheDir: join(dir, 'cache') });
    const io = SafetensorsFile.open(join(fx, 'unet-basic/io.safetensors'));
    const t = (k: string) => new ort.Tensor('float32', io.readFloat32(k), [...io.info(k).shape]);
    const out = (await s.run({ sample: t('in.sample'), timestep: t('in.timestep'), encoder_hidden_states: t('in.encoder_hidden_states') })).noise_pred.data as Float32Array;
    await s.release();
    const exp = io.readFloat32('out.sample');
    let worst = 0;
    for (let i = 0; i < exp.length; i++) worst = Math.max(worst, Math.abs(out[i] - exp[i]));
    assert.ok(worst < (dtype === 'F16' ? 2e-2 : 1.5e-1), `max |err| ${worst}`);
    assert.ok(worst > 0, 'the weights really were rounded');
  });
}
