/** The name table: LDM / lllyasviel / diffusers naming onto canonical diffusers keys. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { linkSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile, encodeSafetensors } from '../../engine/weights/safetensors.ts';
import {
  LDM_PREFIX, controlNetPrefix, diffusersSource, diffusersVaeMap, ldmComponents, ldmControlNetMap, ldmControlNetSource,
  ldmTextMap, ldmUnetLayout, ldmUnetMap, ldmUnetSource, ldmVaeMap, ldmVaeSource, ldmTextSource, roleSource, vaeFileSource, type NameEntry,
} from '../../engine/weights/names.ts';
import { safetensorsSource, type WeightSource } from '../../engine/weights/source.ts';
import { SD15_VAE_SPEC, controlNetSpecs, unetSpecs, vaeSpecs, type TensorSpec } from '../../engine/synthetic/specs.ts';

const fixtures = process.env.IPA_FIXTURES ?? join(import.meta.dirname, '../../../shared/fixtures');
const ldmDir = join(fixtures, 'weights-ldm');
const model = SafetensorsFile.open(join(ldmDir, 'model.safetensors'));
const cnPlain = SafetensorsFile.open(join(ldmDir, 'controlnet_ldm.safetensors'));
const cnPrefixed = SafetensorsFile.open(join(ldmDir, 'controlnet_ldm_control_model.safetensors'));
const tmp = mkdtempSync(join(tmpdir(), 'ipa-names-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const shapesOf = (f: SafetensorsFile) => new Map([...f.tensors].map(([k, t]) => [k, t.shape] as const));
const shapesFrom = (names: Iterable<string>, shape: readonly number[] = [1]) => new Map([...names].map((n) => [n, shape] as const));

/** Sources of a map are distinct and canonical keys unique (a Map cannot hold duplicates, so check the sources). */
function assertBijective(map: ReadonlyMap<string, NameEntry>, what: string): void {
  const sources = [...map.values()].map((e) => e.source);
  assert.equal(new Set(sources).size, sources.length, `${what}: a source tensor is used twice`);
}

function sameSource(a: WeightSource, b: WeightSource, what: string): void {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort(), `${what}: key sets differ`);
  for (const k of a.keys()) {
    const x = a.get(k)!;
    const y = b.get(k)!;
    assert.deepEqual([x.dtype, ...x.shape], [y.dtype, ...y.shape], `${what}: ${k}`);
  }
}

test('every key of the single-file checkpoint maps, to a canonical key produced once', () => {
  const shapes = shapesOf(model);
  const unet = ldmUnetMap(shapes, LDM_PREFIX.unet, model.path);
  const vae = ldmVaeMap(shapes, LDM_PREFIX.vae, model.path);
  const text = ldmTextMap(shapes, LDM_PREFIX.text, model.path);
  for (const [m, what] of [[unet, 'unet'], [vae, 'vae'], [text, 'text']] as const) assertBijective(m, what);
  const used = new Set([...unet.values(), ...vae.values(), ...text.values()].map((e) => e.source));
  const unmapped = model.keys().filter((k) => !used.has(k));
  assert.deepEqual(unmapped, []);
  assert.equal(used.size, model.keys().length);
  assert.deepEqual(ldmComponents(model), ['unet', 'vae', 'text']);
  assert.deepEqual(ldmUnetLayout(model.keys().filter((k) => k.startsWith(LDM_PREFIX.unet)).map((k) => k.slice(LDM_PREFIX.unet.length))), { layersPerBlock: 2, downBlocks: 4, upBlocks: 4 });
});

test('spot checks of the SD1.5 table', () => {
  const shapes = shapesOf(model);
  const unet = ldmUnetMap(shapes, LDM_PREFIX.unet, model.path);
  const src = (k: string) => unet.get(k)?.source.slice(LDM_PREFIX.unet.length);
  assert.equal(src('time_embedding.linear_1.weight'), 'time_embed.0.weight');
  assert.equal(src('time_embedding.linear_2.bias'), 'time_embed.2.bias');
  assert.equal(src('conv_in.weight'), 'input_blocks.0.0.weight');
  assert.equal(src('down_blocks.0.resnets.1.conv1.weight'), 'input_blocks.2.0.in_layers.2.weight');
  assert.equal(src('down_blocks.0.downsamplers.0.conv.weight'), 'input_blocks.3.0.op.weight');
  assert.equal(src('down_blocks.2.resnets.0.conv_shortcut.weight'), 'input_blocks.7.0.skip_connection.weight');
  assert.equal(src('down_blocks.2.resnets.0.time_emb_proj.weight'), 'input_blocks.7.0.emb_layers.1.weight');
  assert.equal(src('down_blocks.1.attentions.1.transformer_blocks.0.ff.net.0.proj.weight'), 'input_blocks.5.1.transformer_blocks.0.ff.net.0.proj.weight');
  assert.equal(src('down_blocks.3.resnets.1.norm2.weight'), 'input_blocks.11.0.out_layers.0.weight');
  assert.equal(src('mid_block.resnets.1.conv2.weight'), 'middle_block.2.out_layers.3.weight');
  assert.equal(src('mid_block.attentions.0.proj_in.weight'), 'middle_block.1.proj_in.weight');
  assert.equal(src('up_blocks.0.upsamplers.0.conv.weight'), 'output_blocks.2.1.conv.weight');
  assert.equal(src('up_blocks.1.upsamplers.0.conv.weight'), 'output_blocks.5.2.conv.weight');
  assert.equal(src('up_blocks.3.attentions.2.transformer_blocks.0.attn2.to_k.weight'), 'output_blocks.11.1.transformer_blocks.0.attn2.to_k.weight');
  assert.equal(src('conv_norm_out.weight'), 'out.0.weight');
  assert.equal(src('conv_out.bias'), 'out.2.bias');

  const vae = ldmVaeMap(shapes, LDM_PREFIX.vae, model.path);
  const v = (k: string) => vae.get(k);
  assert.equal(v('decoder.up_blocks.0.upsamplers.0.conv.weight')?.source, 'first_stage_model.decoder.up.3.upsample.conv.weight');
  assert.equal(v('decoder.up_blocks.3.resnets.0.conv_shortcut.weight')?.source, 'first_stage_model.decoder.up.0.block.0.nin_shortcut.weight');
  assert.equal(v('decoder.up_blocks.3.upsamplers.0.conv.weight'), undefined);
  assert.equal(v('encoder.mid_block.attentions.0.group_norm.weight')?.source, 'first_stage_model.encoder.mid.attn_1.norm.weight');
  assert.equal(v('encoder.mid_block.attentions.0.to_out.0.weight')?.source, 'first_stage_model.encoder.mid.attn_1.proj_out.weight');
  assert.deepEqual(v('decoder.mid_block.attentions.0.to_q.weight')?.shape, [16, 16], '[C,C,1,1] is viewed as [C,C]');
  assert.equal(v('decoder.mid_block.attentions.0.to_q.bias')?.shape, undefined);
  assert.equal(v('decoder.conv_norm_out.weight')?.source, 'first_stage_model.decoder.norm_out.weight');
  assert.equal(v('encoder.mid_block.resnets.1.norm1.weight')?.source, 'first_stage_model.encoder.mid.block_2.norm1.weight');

  const text = ldmTextMap(shapes, LDM_PREFIX.text, model.path);
  assert.equal(text.get('text_model.final_layer_norm.weight')?.source, 'cond_stage_model.transformer.text_model.final_layer_norm.weight');
  // Older checkpoints have no "text_model." level.
  const old = ldmTextMap(shapesFrom(['cond_stage_model.transformer.embeddings.token_embedding.weight', 'cond_stage_model.transformer.encoder.layers.0.mlp.fc1.weight']));
  assert.equal(old.get('text_model.embeddings.token_embedding.weight')?.source, 'cond_stage_model.transformer.embeddings.token_embedding.weight');
  assert.equal(old.get('text_model.encoder.layers.0.mlp.fc1.weight')?.source, 'cond_stage_model.transformer.encoder.layers.0.mlp.fc1.weight');
});

test('the mapped LDM files have exactly the key sets and shapes of the diffusers / HF files', () => {
  sameSource(ldmUnetSource(model), safetensorsSource(join(fixtures, 'unet-basic/unet.safetensors')), 'unet');
  sameSource(ldmVaeSource(model), diffusersSource(join(fixtures, 'vae-decoder/vae.safetensors'), 'vae'), 'vae');
  sameSource(ldmTextSource(model), safetensorsSource(join(fixtures, 'clip-text/text_encoder.safetensors')), 'text');
  sameSource(ldmControlNetSource(cnPlain), safetensorsSource(join(fixtures, 'controlnet/controlnet.safetensors')), 'controlnet');
});

test('the two lllyasviel ControlNet prefixes give identical maps', () => {
  assert.equal(controlNetPrefix(cnPlain.keys()), '');
  assert.equal(controlNetPrefix(cnPrefixed.keys()), 'control_model.');
  const a = ldmControlNetMap(shapesOf(cnPlain), '', cnPlain.path);
  const b = ldmControlNetMap(shapesOf(cnPrefixed), 'control_model.', cnPrefixed.path);
  assertBijective(a, 'plain');
  assert.equal(a.size, cnPlain.keys().length, 'every key of the plain file maps');
  assert.equal(b.size, cnPrefixed.keys().length, 'every key of the prefixed file maps');
  assert.deepEqual([...a].map(([k, e]) => [k, e.source]), [...b].map(([k, e]) => [k, e.source.slice('control_model.'.length)]));
  sameSource(ldmControlNetSource(cnPlain), ldmControlNetSource(cnPrefixed), 'controlnet prefixes');
  assert.equal(a.get('controlnet_cond_embedding.conv_in.weight')?.source, 'input_hint_block.0.weight');
  assert.equal(a.get('controlnet_cond_embedding.blocks.0.weight')?.source, 'input_hint_block.2.weight');
  assert.equal(a.get('controlnet_cond_embedding.blocks.5.bias')?.source, 'input_hint_block.12.bias');
  assert.equal(a.get('controlnet_cond_embedding.conv_out.weight')?.source, 'input_hint_block.14.weight');
  assert.equal(a.get('controlnet_down_blocks.11.weight')?.source, 'zero_convs.11.0.weight');
  assert.equal(a.get('controlnet_mid_block.bias')?.source, 'middle_block_out.0.bias');
  assert.deepEqual(ldmComponents(cnPrefixed), ['controlnet']);
});

// -- Other layer counts: LDM keys written from the LDM layout rules, compared with diffusers specs.

function ldmUnetKeyOf(name: string, L: number, hasUpAttn: (b: number) => boolean): string {
  const res = (r: string) => r.replace(/^norm1\./, 'in_layers.0.').replace(/^conv1\./, 'in_layers.2.').replace(/^time_emb_proj\./, 'emb_layers.1.')
    .replace(/^norm2\./, 'out_layers.0.').replace(/^conv2\./, 'out_layers.3.').replace(/^conv_shortcut\./, 'skip_connection.');
  let m: RegExpMatchArray | null;
  if ((m = name.match(/^time_embedding\.linear_(1|2)\.(.+)$/))) return `time_embed.${m[1] === '1' ? 0 : 2}.${m[2]}`;
  if ((m = name.match(/^conv_in\.(.+)$/))) return `input_blocks.0.0.${m[1]}`;
  if ((m = name.match(/^conv_norm_out\.(.+)$/))) return `out.0.${m[1]}`;
  if ((m = name.match(/^conv_out\.(.+)$/))) return `out.2.${m[1]}`;
  if ((m = name.match(/^down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/))) return `input_blocks.${1 + Number(m[1]) * (L + 1) + Number(m[2])}.0.${res(m[3])}`;
  if ((m = name.match(/^down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)$/))) return `input_blocks.${1 + Number(m[1]) * (L + 1) + Number(m[2])}.1.${m[3]}`;
  if ((m = name.match(/^down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)$/))) return `input_blocks.${(Number(m[1]) + 1) * (L + 1)}.0.op.${m[2]}`;
  if ((m = name.match(/^mid_block\.resnets\.(\d+)\.(.+)$/))) return `middle_block.${2 * Number(m[1])}.${res(m[2])}`;
  if ((m = name.match(/^mid_block\.attentions\.0\.(.+)$/))) return `middle_block.1.${m[1]}`;
  if ((m = name.match(/^up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/))) return `output_blocks.${Number(m[1]) * (L + 1) + Number(m[2])}.0.${res(m[3])}`;
  if ((m = name.match(/^up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)$/))) return `output_blocks.${Number(m[1]) * (L + 1) + Number(m[2])}.1.${m[3]}`;
  if ((m = name.match(/^up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)$/))) return `output_blocks.${Number(m[1]) * (L + 1) + L}.${hasUpAttn(Number(m[1])) ? 2 : 1}.conv.${m[2]}`;
  if ((m = name.match(/^controlnet_down_blocks\.(\d+)\.(.+)$/))) return `zero_convs.${m[1]}.0.${m[2]}`;
  if ((m = name.match(/^controlnet_mid_block\.(.+)$/))) return `middle_block_out.0.${m[1]}`;
  throw new Error(`test: no LDM name for ${name}`);
}

function checkRoundTrip(specs: TensorSpec[], toLdm: (n: string) => string, map: (shapes: Map<string, readonly number[]>) => ReadonlyMap<string, NameEntry>, prefix = '') {
  const ldm = new Map(specs.map((s) => [prefix + toLdm(s.name), s.shape] as const));
  assert.equal(ldm.size, specs.length, 'test generator made distinct LDM names');
  const m = map(ldm);
  assert.deepEqual([...m.keys()].sort(), specs.map((s) => s.name).sort());
  for (const s of specs) assert.equal(m.get(s.name)!.source, prefix + toLdm(s.name), s.name);
}

for (const cfg of [
  { blockChannels: [8, 16, 16], layersPerBlock: 1, attnDown: [true, true, false] },
  { blockChannels: [8, 8, 16, 16, 16], layersPerBlock: 3, attnDown: [true, false, true, true, false] },
  { blockChannels: [320, 640, 1280, 1280], layersPerBlock: 2, attnDown: [true, true, true, false] }, // SD1.5 itself
]) {
  test(`layer counts are read off the keys: UNet / ControlNet with ${cfg.blockChannels.length} blocks x ${cfg.layersPerBlock} layers`, () => {
    const spec = { ...cfg, crossAttentionDim: 8, inChannels: 4, outChannels: 4 };
    const specs = unetSpecs(spec);
    const upAttn = (b: number) => specs.some((s) => s.name.startsWith(`up_blocks.${b}.attentions.`));
    const toLdm = (n: string) => ldmUnetKeyOf(n, cfg.layersPerBlock, upAttn);
    checkRoundTrip(specs, toLdm, (s) => ldmUnetMap(s, 'model.diffusion_model.'), 'model.diffusion_model.');

    const embed = [4, 8, 8];
    const cn = controlNetSpecs(spec, embed);
    const hint = (n: string) => {
      const m = n.match(/^controlnet_cond_embedding\.(conv_in|conv_out|blocks\.(\d+))\.(.+)$/);
      if (!m) return toLdm(n);
      const idx = m[1] === 'conv_in' ? 0 : m[1] === 'conv_out' ? 2 * (2 * (embed.length - 1) + 1) : 2 * (Number(m[2]) + 1);
      return `input_hint_block.${idx}.${m[3]}`;
    };
    checkRoundTrip(cn, hint, (s) => ldmControlNetMap(s));
    checkRoundTrip(cn, hint, (s) => ldmControlNetMap(s), 'control_model.');
  });
}

for (const vcfg of [{ blockChannels: [4, 8, 8], layersPerBlock: 1, latentChannels: 4 }, SD15_VAE_SPEC]) test(`VAE up blocks are reversed whatever their number (${vcfg.blockChannels.length} blocks); attention projections viewed as [C,C]`, () => {
  const specs = vaeSpecs(vcfg);
  const U = vcfg.blockChannels.length;
  const toLdm = (n: string) => n
    .replace(/^encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\./, 'encoder.down.$1.block.$2.')
    .replace(/^encoder\.down_blocks\.(\d+)\.downsamplers\.0\./, 'encoder.down.$1.downsample.')
    .replace(/^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\./, (_, b, r) => `decoder.up.${U - 1 - Number(b)}.block.${r}.`)
    .replace(/^decoder\.up_blocks\.(\d+)\.upsamplers\.0\./, (_, b) => `decoder.up.${U - 1 - Number(b)}.upsample.`)
    .replace(/mid_block\.resnets\.(\d+)\./, (_, i) => `mid.block_${Number(i) + 1}.`)
    .replace(/mid_block\.attentions\.0\.group_norm\./, 'mid.attn_1.norm.')
    .replace(/mid_block\.attentions\.0\.to_(q|k|v)\./, 'mid.attn_1.$1.')
    .replace(/mid_block\.attentions\.0\.to_out\.0\./, 'mid.attn_1.proj_out.')
    .replace(/conv_norm_out\./, 'norm_out.')
    .replace(/conv_shortcut\./, 'nin_shortcut.');
  // LDM stores the attention projections as 1x1 convs.
  const ldm = new Map(specs.map((s) => [`first_stage_model.${toLdm(s.name)}`, /mid\.attn_1\.(q|k|v|proj_out)\.weight$/.test(toLdm(s.name)) ? [...s.shape, 1, 1] : s.shape] as const));
  const m = ldmVaeMap(ldm);
  assert.deepEqual([...m.keys()].sort(), specs.map((s) => s.name).sort());
  for (const s of specs) {
    assert.equal(m.get(s.name)!.source, `first_stage_model.${toLdm(s.name)}`);
    if (/attentions\.0\.to_.*weight$/.test(s.name)) assert.deepEqual(m.get(s.name)!.shape, s.shape);
  }
});

test('older diffusers VAE attention names are normalised; duplicates are an error', () => {
  const base = ['decoder.mid_block.attentions.0.query.weight', 'decoder.mid_block.attentions.0.proj_attn.bias', 'decoder.conv_in.weight'];
  const m = diffusersVaeMap(shapesFrom(base, [4, 4]));
  assert.equal(m.get('decoder.mid_block.attentions.0.to_q.weight')?.source, 'decoder.mid_block.attentions.0.query.weight');
  assert.equal(m.get('decoder.mid_block.attentions.0.to_out.0.bias')?.source, 'decoder.mid_block.attentions.0.proj_attn.bias');
  assert.throws(() => diffusersVaeMap(shapesFrom([...base, 'decoder.mid_block.attentions.0.to_q.weight']), 'dup.safetensors'),
    /dup\.safetensors: tensors "decoder\.mid_block\.attentions\.0\.query\.weight" and "decoder\.mid_block\.attentions\.0\.to_q\.weight" both map to "decoder\.mid_block\.attentions\.0\.to_q\.weight"/);
});

test('unknown keys, missing parts and wrong files are errors naming the file', () => {
  const shapes = shapesOf(model);
  shapes.set('model.diffusion_model.mystery_emb.0.weight', [1]);
  assert.throws(() => ldmUnetMap(shapes, LDM_PREFIX.unet, 'ckpt.safetensors'), /ckpt\.safetensors: 1 tensor\(s\) not understood as part of an LDM UNet: "model\.diffusion_model\.mystery_emb\.0\.weight"/);
  // SDXL's added embedding is known: label_emb.0.{0,2} = add_embedding.linear_{1,2}
  shapes.delete('model.diffusion_model.mystery_emb.0.weight');
  shapes.set('model.diffusion_model.label_emb.0.0.weight', [1]);
  shapes.set('model.diffusion_model.label_emb.0.2.bias', [1]);
  const xl = ldmUnetMap(shapes, LDM_PREFIX.unet, 'ckpt.safetensors');
  assert.equal(xl.get('add_embedding.linear_1.weight')?.source, 'model.diffusion_model.label_emb.0.0.weight');
  assert.equal(xl.get('add_embedding.linear_2.bias')?.source, 'model.diffusion_model.label_emb.0.2.bias');
  assert.throws(() => ldmUnetSource(cnPlain), (e: Error) => e.message.includes('controlnet_ldm.safetensors') && e.message.includes('model.diffusion_model.'));
  assert.throws(() => ldmVaeSource(cnPlain), (e: Error) => e.message.includes('controlnet_ldm.safetensors') && e.message.includes('first_stage_model.'));
  assert.throws(() => ldmTextSource(cnPlain), (e: Error) => e.message.includes('controlnet_ldm.safetensors') && e.message.includes('text encoder'));
  assert.throws(() => ldmControlNetSource(model), (e: Error) => e.message.includes('model.safetensors') && e.message.includes('input_hint_block'));
  assert.throws(() => ldmTextMap(shapesFrom(['cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight']), LDM_PREFIX.text, 'sd2.safetensors'), /sd2\.safetensors: .*OpenCLIP/);
});

test('diffusers folders, sharded files and standalone LDM VAE files resolve', () => {
  // A pipeline folder with hard links to the fixture files (no copies).
  const root = join(tmp, 'pipe');
  for (const [sub, name, src] of [
    ['unet', 'diffusion_pytorch_model.safetensors', 'unet-basic/unet.safetensors'],
    ['vae', 'diffusion_pytorch_model.safetensors', 'vae-decoder/vae.safetensors'],
    ['text_encoder', 'model.safetensors', 'clip-text/text_encoder.safetensors'],
  ]) {
    mkdirSync(join(root, sub), { recursive: true });
    try {
      linkSync(join(fixtures, src), join(root, sub, name));
    } catch {
      writeFileSync(join(root, sub, name), encodeSafetensors(Object.fromEntries(SafetensorsFile.open(join(fixtures, src)).keys().map((k) => [k, { dtype: 'F32' as const, shape: [1], data: new Float32Array(1) }]))));
    }
  }
  assert.ok(diffusersSource(root, 'unet').get('conv_in.weight'));
  assert.ok(diffusersSource(root, 'vae').get('decoder.mid_block.attentions.0.to_q.weight'));
  assert.ok(diffusersSource(root, 'text').get('text_model.final_layer_norm.weight'));
  assert.ok(diffusersSource(join(root, 'vae'), 'vae').get('decoder.conv_in.weight'), 'a component folder itself');
  assert.throws(() => diffusersSource(root, 'controlnet'), (e: Error) => e.message.includes(root) && e.message.includes('no controlnet weights'));

  // Sharded: two files plus an index.
  const shard = join(tmp, 'sharded', 'unet');
  mkdirSync(shard, { recursive: true });
  const one = (k: string) => ({ [k]: { dtype: 'F32' as const, shape: [2], data: new Float32Array([1, 2]) } });
  writeFileSync(join(shard, 'diffusion_pytorch_model-00001-of-00002.safetensors'), encodeSafetensors(one('conv_in.weight')));
  writeFileSync(join(shard, 'diffusion_pytorch_model-00002-of-00002.safetensors'), encodeSafetensors(one('conv_out.weight')));
  writeFileSync(join(shard, 'diffusion_pytorch_model.safetensors.index.json'), JSON.stringify({ weight_map: { 'conv_in.weight': 'diffusion_pytorch_model-00001-of-00002.safetensors', 'conv_out.weight': 'diffusion_pytorch_model-00002-of-00002.safetensors' } }));
  const s = diffusersSource(join(tmp, 'sharded'), 'unet');
  assert.deepEqual(s.keys().sort(), ['conv_in.weight', 'conv_out.weight']);

  // A standalone LDM VAE (vae-ft-mse style): LDM names without the first_stage_model. prefix.
  const vaeKeys = model.keys().filter((k) => k.startsWith('first_stage_model.'));
  const standalone = join(tmp, 'vae-ft.safetensors');
  writeFileSync(standalone, encodeSafetensors(Object.fromEntries(vaeKeys.map((k) => {
    const shape = [...model.info(k).shape];
    return [k.slice('first_stage_model.'.length), { dtype: 'F32' as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) }];
  }))));
  sameSource(ldmVaeSource(standalone), ldmVaeSource(model), 'standalone LDM VAE');
  // vaeFileSource (a separately installed VAE, e.g. sdxl-vae-fp16-fix) tells the namings apart.
  sameSource(vaeFileSource(standalone), ldmVaeSource(model), 'standalone LDM VAE by vaeFileSource');
  assert.ok(vaeFileSource(join(root, 'vae')).get('decoder.mid_block.attentions.0.to_q.weight'), 'a diffusers VAE folder by vaeFileSource');
  assert.ok(vaeFileSource(join(root, 'vae', 'diffusion_pytorch_model.safetensors')).get('decoder.conv_in.weight'), 'a diffusers VAE file by vaeFileSource');
});

test('roleSource follows weights_format', () => {
  const c = { name: 'x', weights: { unet: model.path, vae: model.path, text_encoder: model.path, controlnet: cnPrefixed.path }, weightsFormat: { unet: 'ldm', vae: 'ldm', text_encoder: 'ldm', controlnet: 'ldm' } };
  assert.ok(roleSource(c, 'unet').get('up_blocks.3.attentions.2.proj_out.weight'));
  assert.ok(roleSource(c, 'vae').get('post_quant_conv.weight'));
  assert.ok(roleSource(c, 'text_encoder').get('text_model.embeddings.position_ids'));
  assert.ok(roleSource(c, 'controlnet').get('controlnet_mid_block.weight'));
  assert.throws(() => roleSource(c, 'image_encoder'), /case has no "image_encoder" weights/);
});
