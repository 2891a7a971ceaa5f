/**
 * The settings form: every field saves through the controller as it changes, and is drawn back from
 * the controller's settings (what the daemon offers: adapters, samplers, sizes in budget).
 */
import { SAMPLERS, type BlockPreset, type ControlPreprocess, type ControlType, type SamplerName } from '../../../shared/protocol/messages.ts';
import { randomSeed } from '../../../shared/plugin/job.ts';
import { DEFAULT_SETTINGS, SIZE_CHOICES, type GenerationSettings, type ReferenceSource } from '../../../shared/plugin/settings.ts';
import { checkpointChoices, checkpointFamily, FAMILY_LABELS } from '../../../shared/plugin/families.ts';
import type { RegionMode } from '../../../shared/plugin/region.ts';
import { scaleGuidance } from '../../../shared/plugin/scale-guidance.ts';
import type { LayerInfo } from './host.ts';
import { type PanelView } from './panel-view.ts';

const ADAPTER_LABELS: Record<string, string> = {
  base: 'Base (whole image)', plus: 'Plus (finer detail)', faceid: 'FaceID (a face)', 'faceid-plus': 'FaceID Plus',
  'faceid-plusv2': 'FaceID Plus v2', portrait: 'FaceID Portrait',
};

const MODE_HINTS: Record<RegionMode, string> = {
  canvas: 'Fills the whole canvas from the prompt, the reference and the control layer.',
  inpaint: 'Repaints inside the selection; the rest stays as it is. Feathered edges are kept.',
  img2img: 'Re-imagines the selection (or the canvas) from what is there. "Change" sets how much.',
};

const DETECT: Record<ControlType, ControlPreprocess> = { pose: 'pose-detect', canny: 'canny', depth: 'depth' };

/** Layers worth offering as a reference or control: pixels of their own. */
function pickable(l: LayerInfo): boolean {
  return l.kind === 'pixel' || l.kind === 'smartObject' || l.kind === 'text';
}

function layerOptions(v: PanelView, current: number | null, currentName: string): Array<{ value: string; label: string }> {
  const items = [{ value: '', label: 'None' }];
  for (const l of v.state.layers) {
    if (!pickable(l)) continue;
    items.push({ value: String(l.id), label: `${'\u00a0\u00a0'.repeat(l.depth)}${l.name}${l.visible ? '' : ' (hidden)'}` });
  }
  if (current !== null && !v.state.layers.some((l) => l.id === current)) items.push({ value: String(current), label: `${currentName || 'layer'} (not in this document)` });
  return items;
}

export function wireForm(v: PanelView): void {
  const { el, ctl } = v;
  const { onSegment, num, picked } = v.kit;
  const s = (): GenerationSettings => v.ctl.settings;
  el.prompt.addEventListener('input', () => ctl.update({ prompt: String(el.prompt.value) }));
  el.negative.addEventListener('input', () => ctl.update({ negativePrompt: String(el.negative.value) }));

  onSegment(el.refSource, (v) => ctl.update({ reference: { ...s().reference, source: v as ReferenceSource } }));
  el.refLayer.addEventListener('change', () => {
    const id = Number(picked(el.refLayer)) || null;
    const l = v.state.layers.find((x) => x.id === id);
    ctl.update({ reference: { ...s().reference, source: id ? 'layer' : s().reference.source, layerId: id, layerName: l?.name ?? '' } });
  });
  el.refCurrent.addEventListener('click', () => ctl.useCurrentLayer('reference'));
  el.refPick.addEventListener('click', () => void ctl.pickReferenceFile());
  el.adapter.addEventListener('change', () => ctl.update({ adapter: picked(el.adapter) as GenerationSettings['adapter'] }));
  el.preset.addEventListener('change', () => ctl.update({ preset: picked(el.preset) as BlockPreset }));
  el.refScale.addEventListener('input', () => ctl.update({ referenceScale: num(el.refScale, s().referenceScale) }));
  el.refMask.addEventListener('change', () => {
    // '' everywhere, 'layer' its layer mask, 'channel:NAME' a saved selection (regional image prompt).
    const value = picked(el.refMask);
    const { mask: _m, maskChannel: _c, ...rest } = s().reference;
    ctl.update({ reference: { ...rest, ...(value === 'layer' ? { mask: true } : value.startsWith('channel:') ? { maskChannel: value.slice(8) } : {}) } });
  });
  el.ref2Layer.addEventListener('change', () => {
    const id = Number(picked(el.ref2Layer)) || null;
    const l = v.state.layers.find((x) => x.id === id);
    ctl.update({ reference2: id ? { layerId: id, layerName: l?.name ?? '', ...(s().reference2?.mask ? { mask: true } : {}) } : undefined });
  });
  el.ref2Mask.addEventListener('change', () => {
    const r2 = s().reference2;
    if (r2) ctl.update({ reference2: { ...r2, mask: el.ref2Mask.checked } });
  });
  el.checkpoint.addEventListener('change', () => {
    // A model picked by hand leaves the speed preset: its LoRA and step recipe belong to another model,
    // and steps / sampler / CFG go back to "not set" so the new family's defaults apply.
    const { steps, sampler, guidance } = DEFAULT_SETTINGS;
    ctl.update({ checkpoint: picked(el.checkpoint), speed: 'custom', loras: [], eta: null, draftDecode: false, steps, sampler, guidance });
  });

  el.ctlLayer.addEventListener('change', () => {
    const id = Number(picked(el.ctlLayer)) || null;
    const l = v.state.layers.find((x) => x.id === id);
    ctl.update({ control: { ...s().control, layerId: id, layerName: l?.name ?? '' } });
  });
  el.ctlCurrent.addEventListener('click', () => ctl.useCurrentLayer('control'));
  el.ctlType.addEventListener('change', () => {
    const type = picked(el.ctlType) as ControlType;
    ctl.update({ controlType: type, controlPreprocess: s().controlPreprocess === 'none' ? 'none' : DETECT[type] });
  });
  el.ctlPre.addEventListener('change', () => ctl.update({ controlPreprocess: picked(el.ctlPre) === 'detect' ? DETECT[s().controlType] : 'none' }));
  el.ctlScale.addEventListener('input', () => ctl.update({ controlScale: num(el.ctlScale, s().controlScale) }));
  const range = (moved: 'start' | 'end'): void => {
    let start = Math.min(0.95, Math.max(0, num(el.ctlStart, 0) / 100));
    let end = Math.min(1, Math.max(0.05, num(el.ctlEnd, 100) / 100));
    if (start >= end) {
      // Keep a valid range: the field that changed pushes the other.
      if (moved === 'start') end = Math.min(1, start + 0.05);
      else start = Math.max(0, end - 0.05);
    }
    ctl.update({ control: { ...s().control, start, end } });
    el.ctlStart.value = String(Math.round(start * 100));
    el.ctlEnd.value = String(Math.round(end * 100));
  };
  el.ctlStart.addEventListener('change', () => range('start'));
  el.ctlEnd.addEventListener('change', () => range('end'));

  onSegment(el.mode, (v) => ctl.update({ mode: v as RegionMode }));
  el.strength.addEventListener('input', () => ctl.update({ strength: num(el.strength, s().strength) }));

  el.steps.addEventListener('change', () => ctl.update({ steps: Math.round(num(el.steps, s().steps)) }));
  el.sampler.addEventListener('change', () => ctl.update({ sampler: picked(el.sampler) as SamplerName }));
  el.seed.addEventListener('change', () => {
    const v = Math.round(num(el.seed, -1));
    if (v >= 0) ctl.update({ seed: v }); // typing a seed locks it
  });
  el.seedLock.addEventListener('change', () => ctl.update({ seed: el.seedLock.checked ? (s().seed ?? s().lastSeed) : null }));
  el.seedRandom.addEventListener('click', () => ctl.update({ seed: randomSeed(Math.random) }));
  el.size.addEventListener('change', () => ctl.update({ size: Number(picked(el.size)) }));
  el.guidance.addEventListener('change', () => ctl.update({ guidance: num(el.guidance, s().guidance) }));

}

export function renderForm(v: PanelView): void {
  const { el, ctl, conn, doc } = v;
  const { show, setValue, options, pick, segment } = v.kit;
  const s = (): GenerationSettings => v.ctl.settings;
    const st = s();
    const caps = conn.welcome?.capabilities;
    setValue(el.prompt, st.prompt);
    setValue(el.negative, st.negativePrompt);

    segment(el.refSource, st.reference.source);
    show(el.refLayerRow, st.reference.source === 'layer');
    show(el.refFileRow, st.reference.source === 'file');
    show(el.refOptions, st.reference.source !== 'none');
    options(el.refLayer, layerOptions(v, st.reference.layerId, st.reference.layerName));
    pick(el.refLayer, st.reference.layerId === null ? '' : String(st.reference.layerId));
    el.refFileName.textContent = st.reference.fileName
      ? `${st.reference.fileName}${ctl.referenceFile?.name === st.reference.fileName ? '' : ' (choose again)'}`
      : 'PNG or JPEG';
    const channels = v.state.channels ?? [];
    const maskChoices = [{ value: '', label: 'Everywhere' }];
    if (st.reference.source === 'layer') maskChoices.push({ value: 'layer', label: 'Where its layer mask is white' });
    for (const c of channels) maskChoices.push({ value: `channel:${c}`, label: `In saved selection "${c}"` });
    const ch = st.reference.maskChannel;
    if (ch && !channels.includes(ch)) maskChoices.push({ value: `channel:${ch}`, label: `In saved selection "${ch}" (not in this document)` });
    options(el.refMask, maskChoices);
    pick(el.refMask, ch ? `channel:${ch}` : st.reference.mask && st.reference.source === 'layer' ? 'layer' : '');
    show(el.ref2Row, st.reference.source === 'layer');
    options(el.ref2Layer, layerOptions(v, st.reference2?.layerId ?? null, st.reference2?.layerName ?? ''));
    pick(el.ref2Layer, st.reference2 ? String(st.reference2.layerId) : '');
    show(el.ref2MaskRow, !!st.reference2);
    el.ref2Mask.checked = st.reference2?.mask === true;
    const adapters = ctl.adapters();
    options(el.adapter, adapters.map((a) => ({ value: a, label: ADAPTER_LABELS[a] ?? a })));
    pick(el.adapter, adapters.includes(st.adapter) ? st.adapter : adapters[0]);
    pick(el.preset, st.preset);
    setValue(el.refScale, String(st.referenceScale));
    el.refScaleVal.textContent = st.referenceScale.toFixed(2);
    const g = scaleGuidance(st.referenceScale);
    el.refGuide.className = `guide small muted tone-${g.tone}`;
    el.refGuide.textContent = '';
    const b = doc.createElement('b');
    b.textContent = g.label;
    el.refGuide.appendChild(b);
    el.refGuide.appendChild(doc.createTextNode(` — ${g.hint}`));

    options(el.ctlLayer, layerOptions(v, st.control.layerId, st.control.layerName));
    pick(el.ctlLayer, st.control.layerId === null ? '' : String(st.control.layerId));
    show(el.ctlOptions, st.control.layerId !== null);
    // Only the control types the family has ControlNets for (all three before the handshake).
    const family = ctl.family();
    const types = family && family.controls.length ? family.controls : (['pose', 'canny', 'depth'] as ControlType[]);
    options(el.ctlType, types.map((t) => ({ value: t, label: CONTROL_LABELS[t] })));
    pick(el.ctlType, types.includes(st.controlType) ? st.controlType : types[0]);
    pick(el.ctlPre, st.controlPreprocess === 'none' ? 'map' : 'detect');
    setValue(el.ctlScale, String(st.controlScale));
    el.ctlScaleVal.textContent = st.controlScale.toFixed(2);
    setValue(el.ctlStart, String(Math.round(st.control.start * 100)));
    setValue(el.ctlEnd, String(Math.round(st.control.end * 100)));

    segment(el.mode, st.mode);
    show(el.strengthRow, st.mode !== 'canvas');
    setValue(el.strength, String(st.strength));
    el.strengthVal.textContent = st.strength.toFixed(2);
    el.modeHint.textContent = MODE_HINTS[st.mode];

    setValue(el.steps, String(st.steps));
    const samplers = caps?.samplers ?? [...SAMPLERS];
    options(el.sampler, samplers.map((x) => ({ value: x, label: x })));
    pick(el.sampler, st.sampler);
    setValue(el.seed, String(st.seed ?? st.lastSeed));
    el.seedLock.checked = st.seed !== null;
    el.seed.classList.toggle('muted', st.seed === null);
    const max = caps?.maxPixels ?? Infinity;
    const sizes = SIZE_CHOICES.filter((c, i) => i === 0 || c.pixels <= max);
    options(el.size, sizes.map((c) => ({ value: String(c.pixels), label: c.label })));
    pick(el.size, String(sizes.some((c) => c.pixels === st.size) ? st.size : sizes[0].pixels));
    setValue(el.guidance, String(st.guidance));

    const choices = caps ? checkpointChoices(caps) : [];
    const dflt = caps ? FAMILY_LABELS[checkpointFamily(caps, '')] : '';
    options(el.checkpoint, [{ value: '', label: caps ? `Daemon default (${dflt})` : 'Daemon default' }, ...choices.map((c) => ({ value: c.name, label: c.label }))]);
    pick(el.checkpoint, st.checkpoint);
    el.familyLabel.textContent = family ? familyLine(family, st) : '';
}

const CONTROL_LABELS: Record<ControlType, string> = { pose: 'Pose (OpenPose)', canny: 'Canny edges', depth: 'Depth' };

/** "SDXL · nearest of 9 aspect buckets · 30 steps, CFG 5 where not set", for the family line. */
function familyLine(f: NonNullable<ReturnType<PanelView['ctl']['family']>>, st: GenerationSettings): string {
  const size = f.family === 'sdxl' && f.defaults.buckets?.length ? `nearest of ${f.defaults.buckets.length} aspect buckets (${f.defaults.width}²)` : 'area from the Size setting';
  const unset = f.family !== 'sd15' && st.speed === 'custom' ? ` · ${f.defaults.steps} steps, CFG ${f.defaults.guidance}, ${f.defaults.sampler} where not set` : '';
  return `${f.label} · ${size}${unset}`;
}
