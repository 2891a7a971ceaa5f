/** Panel settings schema, job building, layer names, records in XMP. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateJob } from '../../shared/protocol/validate.ts';
import type { ResultMetadata } from '../../shared/protocol/messages.ts';
import { isResultName as isGeneratedLayerName, parseResultName as parsePsLayerName, resultName } from '../../shared/plugin/naming.ts';
import { buildPsJob, installedAdapters, sniffImageFormat } from '../../shared/plugin/ps-job.ts';
import { createRecord, parseRecord as parsePsRecord, repeatFromRecord, type RecordTarget } from '../../shared/plugin/record.ts';
import { parseSettings, PHOTOSHOP_DEFAULTS as DEFAULT_PS_SETTINGS, withSeedLock, type GenerationSettings } from '../../shared/plugin/settings.ts';
import { blankGray, blankRgba } from '../../shared/plugin/raster.ts';
import { planSizes } from '../../shared/plugin/region.ts';
import { scaleGuidance } from '../../shared/plugin/scale-guidance.ts';
import { readXmpRecord, writeXmpRecord } from '../../shared/plugin/xmp-record.ts';

const parsePsSettings = (raw: unknown): GenerationSettings => parseSettings(raw, DEFAULT_PS_SETTINGS);
const psLayerName = (seed: number, prompt: string): string => resultName(seed, prompt);
const psRecord = (settings: GenerationSettings, meta: ResultMetadata, jobId: string, target: RecordTarget, createdAt: string) => createRecord({ settings, meta, jobId, target, createdAt });

test('settings: damaged or partial records keep every valid field', () => {
  assert.deepEqual(parsePsSettings(undefined), DEFAULT_PS_SETTINGS);
  assert.deepEqual(parsePsSettings('garbage'), DEFAULT_PS_SETTINGS);
  const s = parsePsSettings({
    prompt: 'a lighthouse', steps: 9999, mode: 'inpaint', sampler: 'nope', referenceScale: 0.9,
    reference: { source: 'layer', layerId: 12, layerName: 'Style' }, control: { layerId: -3, start: 0.8, end: 0.2 }, size: 768 * 768,
  });
  assert.equal(s.prompt, 'a lighthouse');
  assert.equal(s.steps, DEFAULT_PS_SETTINGS.steps);
  assert.equal(s.sampler, DEFAULT_PS_SETTINGS.sampler);
  assert.equal(s.mode, 'inpaint');
  assert.equal(s.useInit, true);
  assert.equal(s.referenceScale, 0.9);
  assert.deepEqual(s.reference, { source: 'layer', layerId: 12, layerName: 'Style', fileName: '' });
  assert.deepEqual(s.control, { layerId: null, layerName: '', start: 0, end: 1 });
  assert.equal(s.size, 768 * 768);
  // Round trip through JSON is stable.
  assert.deepEqual(parsePsSettings(JSON.parse(JSON.stringify(s))), s);
  // Seed lock keeps the last seed.
  const locked = withSeedLock({ ...s, seed: null, lastSeed: 42 }, true);
  assert.equal(locked.seed, 42);
  assert.equal(withSeedLock(locked, false).seed, null);
});

test('strength guidance follows DESIGN.md', () => {
  assert.equal(scaleGuidance(0).tone, 'off');
  assert.equal(scaleGuidance(0.4).tone, 'weak');
  assert.equal(scaleGuidance(0.6).tone, 'balanced');
  assert.equal(scaleGuidance(0.85).tone, 'strong');
  assert.equal(scaleGuidance(1.2).tone, 'overrides');
});

test('layer names: [IPA] <seed> <prompt…>, parsed back', () => {
  assert.equal(psLayerName(1234, '  a   red sneaker  '), '[IPA] 1234 a red sneaker');
  assert.equal(psLayerName(7, ''), '[IPA] 7');
  const long = psLayerName(4294967295, 'x'.repeat(200));
  assert.ok(long.length <= 64 && long.endsWith('…') && long.startsWith('[IPA] 4294967295 x'));
  assert.deepEqual(parsePsLayerName('[IPA] 1234 a red sneaker'), { seed: 1234, prompt: 'a red sneaker' });
  assert.deepEqual(parsePsLayerName('[IPA] 7'), { seed: 7, prompt: '' });
  assert.equal(parsePsLayerName('Layer 1'), null);
  assert.ok(isGeneratedLayerName('[IPA] 7 x') && !isGeneratedLayerName('IPA 7'));
});

test('jobs per mode validate against the protocol', () => {
  const plan = planSizes({ x: 40, y: 30, width: 300, height: 200 }, 512 * 512, 1024 * 1024);
  const s = parsePsSettings({ prompt: 'p', mode: 'inpaint', strength: 0.9, controlType: 'pose', control: { layerId: 3, start: 0.1, end: 0.8 }, adapter: 'plus', referenceScale: 1.2, preset: 'style' });
  const init = blankRgba(plan.read.width, plan.read.height, [1, 2, 3, 255]);
  const { job, inputs } = buildPsJob(s, {
    plan, init, mask: blankGray(plan.read.width, plan.read.height, 255), reference: { image: blankRgba(64, 64, [9, 9, 9, 255]) }, control: blankRgba(plan.read.width, plan.read.height),
  }, { jobId: 'ps-1', seed: 77, adapters: ['base', 'plus'] });
  const v = validateJob(job);
  assert.ok(v.ok, JSON.stringify(!v.ok && v.error));
  assert.equal(job.width! % 8, 0);
  assert.deepEqual(job.output, { format: 'raw-rgba8', preview: true });
  assert.equal(job.strength, 0.9);
  assert.deepEqual(job.mask, { source: 'frame', feather: 0, crop: false });
  assert.deepEqual(job.references, [{ source: 'frame', adapter: 'plus', scale: 1.2, preset: 'style' }]);
  assert.deepEqual(job.controls, [{ source: 'frame', type: 'pose', preprocess: 'none', scale: 1, range: { start: 0.1, end: 0.8 } }]);
  assert.equal(inputs.init!.width, 300);
  assert.match(inputs.init!.hash!, /^[0-9a-f]{64}$/);
  assert.equal(inputs.mask!.format, 'raw-gray8');
  // An adapter the daemon lacks falls back to one it has.
  assert.equal(buildPsJob(s, { plan, reference: { image: blankRgba(4, 4) } }, { jobId: 'x', seed: 1, adapters: ['base'] }).job.references![0].adapter, 'base');
  // Canvas mode: text only, explicit size; variation seed passes through.
  const txt = buildPsJob(parsePsSettings({ prompt: 'p' }), { plan }, { jobId: 'ps-2', seed: 5, variation: { seed: 6, strength: 0.25 } }).job;
  assert.ok(validateJob(txt).ok);
  assert.equal(txt.init, undefined);
  assert.equal(txt.variationSeed, 6);
  // A file reference goes encoded.
  const png = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0);
  assert.equal(sniffImageFormat(png), 'png');
  assert.equal(sniffImageFormat(Uint8Array.of(0xff, 0xd8, 0xff, 0xe0)), 'jpeg');
  assert.equal(buildPsJob(s, { plan, reference: { encoded: png, format: 'png' } }, { jobId: 'x', seed: 1 }).inputs.references![0]!.format, 'png');
});

test('installed adapters are the ones the daemon lists, in a stable order', () => {
  assert.deepEqual(installedAdapters({ adapters: ['faceid', 'plus'] }), ['plus', 'faceid']);
  assert.deepEqual(installedAdapters({ adapters: [] }), []);
});

const META: ResultMetadata = {
  params: { prompt: 'p', negativePrompt: '', seed: 99, steps: 20, sampler: 'euler', guidance: 7, width: 512, height: 512, strength: 0.75, batchSize: 1, clipSkip: 1 },
  references: [{ adapter: 'base', scale: 0.7, preset: 'reference', range: { start: 0, end: 1 }, hash: 'a'.repeat(64) }],
  controls: [], models: { checkpoint: { name: 'm', sha256: '0'.repeat(64) } }, timings: {}, engine: 'test', outputWidth: 512, outputHeight: 512,
  inputs: { references: [], controls: [] },
};

test('records survive JSON and XMP, keep other metadata, and drive regenerate/variation', () => {
  const s = parsePsSettings({ prompt: 'p & <q> "r"', mode: 'inpaint' });
  const rec = psRecord(s, META, 'ps-1', { mode: 'inpaint', region: { x: 1, y: 2, width: 30, height: 40 }, read: { width: 30, height: 40 }, sourceLayerId: 5, documentTitle: 'doc' }, '2024-01-01T00:00:00Z');
  const foreign = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:format>image/png</dc:format></rdf:Description></rdf:RDF></x:xmpmeta>';
  const xmp = writeXmpRecord(foreign, JSON.stringify(rec));
  assert.ok(xmp.includes('<dc:format>image/png</dc:format>'));
  const back = parsePsRecord(JSON.parse(readXmpRecord(xmp)!));
  assert.deepEqual(back, rec);
  // Writing again replaces, not appends.
  const twice = writeXmpRecord(xmp, JSON.stringify({ ...rec, seed: 5 }));
  assert.equal(twice.split('ipaBridge:record>').length, 3);
  assert.equal(parsePsRecord(JSON.parse(readXmpRecord(twice)!))!.seed, 5);
  // XMP tools may rewrite simple properties as attributes.
  const attr = `<rdf:Description rdf:about="" xmlns:ipaBridge="http://ns.ipa-bridge.dev/1.0/" ipaBridge:record="{&quot;a&quot;:1}"/>`;
  assert.equal(readXmpRecord(attr), '{"a":1}');
  assert.equal(readXmpRecord(writeXmpRecord(null, '{"b":2}')), '{"b":2}');
  assert.equal(parsePsRecord({ v: 1, app: 'other' }), null);

  const again = repeatFromRecord(back!, 'regenerate', () => 0.5);
  assert.equal(again.seed, 99);
  assert.equal(again.settings.mode, 'inpaint');
  assert.equal(again.variation, undefined);
  const vary = repeatFromRecord(back!, 'variation', () => 0.5);
  assert.equal(vary.seed, 99);
  assert.equal(vary.variation!.strength, 0.25);
});
