/** VAE decoder / encoder graphs: parity from both namings, pixel conversion, failure paths, CUDA flavour. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { TensorType } from '../../engine/onnx/builder.ts';
import { buildVaeDecoder, buildVaeEncoder, imageToRgba, imageToUint8NHWC, inspectVae, rgbaToImage, runTiled, vaeScale, type Planar } from '../../engine/graphs/vae.ts';
import { loadCase } from '../../engine/parity/fixture.ts';
import { runOnce, vaeConfigFromCase, vaeDecoderChecks, vaeEncoderChecks } from '../../engine/parity/kinds/vae.ts';
import { diffusersSource, ldmVaeSource } from '../../engine/weights/names.ts';
import { safetensorsSource } from '../../engine/weights/source.ts';

const fixtures = process.env.IPA_FIXTURES ?? join(import.meta.dirname, '../../../shared/fixtures');
const decCase = loadCase(join(fixtures, 'vae-decoder'));
const encCase = loadCase(join(fixtures, 'vae-encoder'));
const diffusersVae = () => diffusersSource(decCase.weights.vae, 'vae');
const ldmVae = () => ldmVaeSource(join(fixtures, 'weights-ldm/model.safetensors'));

const assertAllPass = (checks: Awaited<ReturnType<typeof vaeDecoderChecks>>) => {
  assert.ok(checks.length > 0);
  for (const c of checks) assert.ok(c.pass, `${c.name}: ${c.detail} (max ${c.maxAbsError})`);
};

test('structure is read off the tensors', () => {
  const dec = inspectVae(diffusersVae(), 'decoder');
  assert.equal(dec.latentChannels, 4);
  assert.equal(dec.imageChannels, 3);
  assert.deepEqual(dec.up, [{ resnets: 3, upsample: true }, { resnets: 3, upsample: true }, { resnets: 3, upsample: true }, { resnets: 3, upsample: false }]);
  const enc = inspectVae(diffusersVae(), 'encoder');
  assert.equal(enc.latentChannels, 4);
  assert.deepEqual(enc.down.map((b) => [b.resnets, b.downsample]), [[2, true], [2, true], [2, true], [2, false]]);
  assert.equal(vaeScale(dec), 8);
  assert.equal(vaeScale(enc), 8);
});

test('decoder and encoder reproduce the fixtures from diffusers and from LDM naming', async () => {
  assertAllPass(await vaeDecoderChecks(decCase, diffusersVae()));
  assertAllPass(await vaeDecoderChecks(decCase, ldmVae()));
  assertAllPass(await vaeEncoderChecks(encCase, diffusersVae()));
  assertAllPass(await vaeEncoderChecks(encCase, ldmVae()));
});

test('LDM and diffusers weights give bit-identical outputs', async () => {
  const lat = decCase.io!.readFloat32('in.latents');
  const feeds = () => ({ latents: new ort.Tensor('float32', lat, [1, 4, 8, 8]) });
  const cfg = { config: vaeConfigFromCase(decCase) };
  const a = await runOnce(buildVaeDecoder(diffusersVae(), cfg), feeds());
  const b = await runOnce(buildVaeDecoder(ldmVae(), cfg), feeds());
  assert.deepEqual(a.image.shape, [1, 3, 64, 64]);
  assert.deepEqual(Buffer.from(a.image.data.buffer), Buffer.from(b.image.data.buffer));
});

test('the decoder takes any latent size and batch (dynamic dims)', async () => {
  const lat = new Float32Array(2 * 4 * 4 * 6).map((_, i) => Math.sin(i));
  const out = await runOnce(buildVaeDecoder(diffusersVae(), { config: vaeConfigFromCase(decCase) }), { latents: new ort.Tensor('float32', lat, [2, 4, 4, 6]) });
  assert.deepEqual(out.image.shape, [2, 3, 32, 48]);
  assert.ok(out.image.data.every(Number.isFinite));
});

test('pixel conversion: round(clamp(x/2+0.5, 0, 1) * 255), NHWC and RGBA; and back', () => {
  // [1, 3, 1, 4]: R, G, B planes
  const img = Float32Array.from([-1, 0, 1, 3, /* G */ -2, 0.5, -0.5, 1, /* B */ 0.001, -0.999, 0.999, 0]);
  assert.deepEqual([...imageToUint8NHWC(img, [1, 3, 1, 4])], [0, 0, 128, 128, 191, 0, 255, 64, 255, 255, 255, 128]);
  assert.deepEqual([...imageToRgba(img, [1, 3, 1, 4])], [0, 0, 128, 255, 128, 191, 0, 255, 255, 64, 255, 255, 255, 255, 128, 255]);
  const back = rgbaToImage(Uint8Array.from([0, 255, 128, 255]), 1, 1);
  assert.deepEqual([...back].map((x) => Math.round(x * 1000) / 1000), [-1, 1, 0.004]);
});

test('a UNet file given as the VAE is a clear error naming the file and the missing tensor', () => {
  const unetFile = join(fixtures, 'unet-basic/unet.safetensors');
  const check = (e: Error) => e.message.includes(unetFile) && e.message.includes('"decoder.conv_in.weight"') && /not an SD VAE/.test(e.message);
  assert.throws(() => buildVaeDecoder(diffusersSource(unetFile, 'vae')), check);
  assert.throws(() => buildVaeDecoder(safetensorsSource(unetFile)), check);
  assert.throws(() => buildVaeEncoder(safetensorsSource(unetFile)), (e: Error) => e.message.includes(unetFile) && e.message.includes('"encoder.conv_in.weight"'));
  // A ControlNet file named as the single-file checkpoint's VAE.
  const cn = join(fixtures, 'weights-ldm/controlnet_ldm.safetensors');
  assert.throws(() => ldmVaeSource(cn), (e: Error) => e.message.includes(cn) && e.message.includes('"first_stage_model."'));
});

test('the CUDA flavour (fp16, fused GroupNorm) builds', () => {
  for (const build of [buildVaeDecoder, buildVaeEncoder]) {
    const g = build(ldmVae(), { flavour: 'cuda', config: vaeConfigFromCase(decCase) });
    assert.ok(g.model.byteLength > 0);
    // Graph I/O is float32 in both flavours; fp16 lives inside (Casts at the boundary).
    assert.equal(g.inputs[0].type, TensorType.FLOAT);
    assert.ok(g.outputs.every((o) => o.type === TensorType.FLOAT));
    assert.ok(Buffer.from(g.model).includes(Buffer.from('Cast')));
    assert.ok(Buffer.from(g.model).includes(Buffer.from('GroupNorm')));
    assert.ok(Buffer.from(g.model).includes(Buffer.from('MultiHeadAttention')));
  }
});

test('the SD1.5 defaults apply without a config; groups that do not divide the channels are an error', () => {
  assert.match(Buffer.from(buildVaeDecoder(ldmVae(), { config: { groups: 4 } }).model).toString('latin1'), /scaling 0\.18215/);
  // The tiny VAE has 8/16 channels: SD's default 32 groups cannot apply.
  assert.throws(() => buildVaeDecoder(diffusersVae()), /vae\.safetensors: GroupNorm with 32 groups cannot normalise (8|16) channels \(decoder\./);
});

test('tiled runs blend overlapping tiles exactly for a context-free op', async () => {
  // out = nearest 8x upsampling of 2x+1: any correct tiling/blending reproduces it exactly.
  const op = async (t: Planar): Promise<Record<string, Planar>> => {
    const [n, c, h, w] = t.shape;
    const o = new Float32Array(n * c * h * 8 * w * 8);
    for (let b = 0; b < n * c; b++) for (let y = 0; y < h * 8; y++) for (let x = 0; x < w * 8; x++) o[(b * h * 8 + y) * w * 8 + x] = 2 * t.data[(b * h + (y >> 3)) * w + (x >> 3)] + 1;
    return { image: { data: o, shape: [n, c, h * 8, w * 8] } };
  };
  const input: Planar = { data: new Float32Array(2 * 3 * 20 * 28).map((_, i) => Math.cos(i * 0.37)), shape: [2, 3, 20, 28] };
  const whole = (await op(input)).image;
  const tiled = (await runTiled(op, input, { tile: 8, overlap: 4, scale: 8 })).image;
  assert.deepEqual(tiled.shape, whole.shape);
  let max = 0;
  for (let i = 0; i < whole.data.length; i++) max = Math.max(max, Math.abs(whole.data[i] - tiled.data[i]));
  assert.ok(max < 1e-5, `max diff ${max}`);
  await assert.rejects(runTiled(op, input, { tile: 8, overlap: 8, scale: 8 }), /overlap/);
});

test('tiled decode and encode with the real graphs', async () => {
  const cfg = { config: vaeConfigFromCase(decCase) };
  const dec = buildVaeDecoder(diffusersVae(), cfg);
  const runner = (name: string, g: typeof dec) => async (t: Planar) => runOnce(g, { [name]: new ort.Tensor('float32', t.data, [...t.shape]) });
  const lat: Planar = { data: decCase.io!.readFloat32('in.latents'), shape: [1, 4, 8, 8] };
  const one = await runTiled(runner('latents', dec), lat, { tile: 8, overlap: 2, scale: 8 });
  const whole = await runOnce(dec, { latents: new ort.Tensor('float32', lat.data, [1, 4, 8, 8]) });
  assert.deepEqual(Buffer.from(one.image.data.buffer), Buffer.from(whole.image.data.buffer), 'one tile = the whole-image pass');
  const four = await runTiled(runner('latents', dec), lat, { tile: 6, overlap: 4, scale: 8 });
  assert.deepEqual(four.image.shape, [1, 3, 64, 64]);
  assert.ok(four.image.data.every(Number.isFinite));

  const enc = buildVaeEncoder(diffusersVae(), cfg);
  const img: Planar = { data: encCase.io!.readFloat32('in.image'), shape: [1, 3, 64, 64] };
  const e = await runTiled(runner('image', enc), img, { tile: 48, overlap: 32, scale: 1 / 8 });
  for (const k of ['latent_mean', 'latent_logvar', 'latents_scaled']) assert.deepEqual(e[k].shape, [1, 4, 8, 8]);
});
