/**
 * The settings form and what it works on: the selected target and its record, the style/pose roles,
 * the placement. Every change is saved through the sandbox (debounced).
 */
import { scaleGuidance } from '../../../shared/plugin/scale-guidance.ts';
import { parseSettings, type GenerationSettings } from '../../../shared/plugin/settings.ts';
import type { ControlPreprocess, ControlType } from '../../../shared/protocol/messages.ts';
import type { Placement } from './messages.ts';
import { renderGenerateButton } from './ui-job.ts';
import { $, type UiView } from './ui-view.ts';

// ---------------------------------------------------------------- selection and roles

export function renderSelection(v: UiView): void {
  const { state } = v;
  const t = state.selection.target;
  $('target').hidden = !t;
  $('target-hint').hidden = !!t;
  $('target-hint').textContent = state.selection.hint ?? '';
  if (t) {
    $('target-icon').textContent = t.type === 'FRAME' ? '#' : t.type === 'ELLIPSE' ? '○' : t.type === 'TEXT' ? 'T' : '▢';
    $('target-name').textContent = t.name;
    const role = t.role === 'reference' ? ' · style reference' : t.role === 'control' ? ' · pose/control' : t.role === 'region' ? ' · region of a style' : '';
    $('target-meta').textContent = `${title(t.type)} · ${Math.round(t.width)}×${Math.round(t.height)}${t.canFill ? '' : ' · placed beside'}${role}`;
  }
  const rec = t?.record ?? null;
  $('record').hidden = !rec;
  if (rec) {
    const b = document.createElement('b');
    b.textContent = `Generated · seed ${rec.seed}`;
    $('record-text').replaceChildren(b, rec.settings.prompt ? ` · ${rec.settings.prompt}` : '');
    $('record-text').title = rec.settings.prompt;
  }
  const hasSel = state.selection.count > 0;
  const markRef = $<HTMLButtonElement>('mark-reference');
  const markCtl = $<HTMLButtonElement>('mark-control');
  markRef.disabled = markCtl.disabled = !hasSel;
  markRef.lastChild!.textContent = t?.role === 'reference' ? ' Unmark style' : ' Mark as style';
  markCtl.lastChild!.textContent = t?.role === 'control' ? ' Unmark pose' : ' Mark as pose';
  const fillBtn = document.querySelector<HTMLButtonElement>('#placement [data-v=fill]')!;
  fillBtn.disabled = !!t && !t.canFill;
  renderPlacement(v);
  renderGenerateButton(v);
}

export function renderRoles(v: UiView): void {
  const { state, sandbox } = v;
  const ul = $('roles');
  ul.replaceChildren();
  if (state.roles.length === 0) {
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = 'No style or pose nodes yet: select one and mark it.';
    ul.append(li);
    return;
  }
  for (const r of state.roles) {
    const li = document.createElement('li');
    li.title = 'Show in canvas';
    li.dataset.id = r.id;
    const chip = document.createElement('span');
    chip.className = `chip ${r.role}`;
    chip.textContent = r.role === 'reference' ? 'Style' : r.role === 'region' ? 'Region' : 'Pose';
    const name = document.createElement('span');
    name.className = 'grow';
    name.textContent = r.regionFor ? `${r.name} → ${r.regionFor.name}` : r.name;
    const dims = document.createElement('span');
    dims.className = 'muted';
    dims.textContent = `${Math.round(r.width)}×${Math.round(r.height)}`;
    const x = document.createElement('button');
    x.className = 'icon-btn';
    x.title = 'Remove role';
    x.textContent = '×';
    x.addEventListener('click', (ev) => {
      ev.stopPropagation();
      sandbox.send({ type: 'clear-role', nodeId: r.id });
    });
    li.append(chip, name, dims, x);
    li.addEventListener('click', () => sandbox.send({ type: 'reveal', nodeId: r.id }));
    ul.append(li);
  }
}

export function markSelection(v: UiView, role: 'reference' | 'control'): void {
  v.sandbox.send({ type: 'set-role', role: v.state.selection.target?.role === role ? null : role });
}

function title(type: string): string {
  return type.charAt(0) + type.slice(1).toLowerCase().replace(/_/g, ' ');
}

// ---------------------------------------------------------------- settings form

const num = (id: string): number => Number($<HTMLInputElement>(id).value);

export function fillSelect(id: string, values: readonly string[]): void {
  const sel = $<HTMLSelectElement>(id);
  sel.replaceChildren(...values.map((v) => new Option(v, v)));
}

export function writeForm(v: UiView, s: GenerationSettings): void {
  $<HTMLTextAreaElement>('prompt').value = s.prompt;
  $<HTMLTextAreaElement>('negativePrompt').value = s.negativePrompt;
  $<HTMLInputElement>('useInit').checked = s.useInit;
  for (const k of ['strength', 'referenceScale', 'controlScale'] as const) $<HTMLInputElement>(k).value = String(s[k]);
  $<HTMLSelectElement>('variations').value = String(s.variations);
  $<HTMLInputElement>('steps').value = String(s.steps);
  $<HTMLInputElement>('seed').value = s.seed === null ? '' : String(s.seed);
  $<HTMLSelectElement>('controlType').value = `${s.controlType}:${s.controlPreprocess}`;
  if (!$<HTMLSelectElement>('controlType').value) $<HTMLSelectElement>('controlType').value = 'pose:none';
  $<HTMLSelectElement>('sampler').value = s.sampler;
  $<HTMLInputElement>('guidance').value = String(s.guidance);
  $<HTMLSelectElement>('adapter').value = s.adapter;
  $<HTMLSelectElement>('preset').value = s.preset;
  renderOutputs(v);
}

/**
 * The settings the form shows, plus what it does not: the speed preset's model fields and live mode's
 * (kept from `prev`; ui-live.ts sets them). Steps, sampler or CFG typed by hand make the preset "custom".
 */
function readForm(prev: GenerationSettings): GenerationSettings {
  const [controlType, controlPreprocess] = $<HTMLSelectElement>('controlType').value.split(':') as [ControlType, ControlPreprocess];
  const seedText = $<HTMLInputElement>('seed').value.trim();
  const { speed, checkpoint, loras, eta, draftDecode, liveStrength, liveLayer } = prev;
  const next = parseSettings({
    speed, checkpoint, loras, eta, draftDecode, liveStrength, liveLayer,
    prompt: $<HTMLTextAreaElement>('prompt').value,
    negativePrompt: $<HTMLTextAreaElement>('negativePrompt').value,
    useInit: $<HTMLInputElement>('useInit').checked,
    strength: num('strength'),
    referenceScale: num('referenceScale'),
    controlScale: num('controlScale'),
    variations: num('variations'),
    steps: num('steps'),
    seed: /^\d+$/.test(seedText) ? Number(seedText) : null,
    controlType,
    controlPreprocess,
    sampler: $<HTMLSelectElement>('sampler').value,
    guidance: num('guidance'),
    adapter: $<HTMLSelectElement>('adapter').value,
    preset: $<HTMLSelectElement>('preset').value,
  });
  const byHand = next.steps !== prev.steps || next.sampler !== prev.sampler || next.guidance !== prev.guidance;
  return byHand ? { ...next, speed: 'custom' } : next;
}

export function renderOutputs(v: UiView): void {
  for (const k of ['strength', 'referenceScale', 'controlScale'] as const) $(`${k}-out`).textContent = Number($<HTMLInputElement>(k).value).toFixed(2);
  const g = scaleGuidance(Number($<HTMLInputElement>('referenceScale').value));
  $('referenceScale-row').title = `${g.label}: ${g.hint}`;
  $('strength-row').classList.toggle('off', !$<HTMLInputElement>('useInit').checked);
  const refs = v.state.roles.filter((r) => r.role === 'reference').length;
  const ctls = v.state.roles.filter((r) => r.role === 'control').length;
  $('referenceScale-row').classList.toggle('off', refs === 0);
  $('controlScale-row').classList.toggle('off', ctls === 0);
}

let saveTimer = 0;
export function onFormChange(v: UiView): void {
  const { state } = v;
  state.settings = readForm(state.settings);
  renderOutputs(v);
  renderGenerateButton(v);
  window.clearTimeout(saveTimer);
  // Debounced: clientStorage writes are async round trips through the sandbox.
  saveTimer = window.setTimeout(() => v.sandbox.send({ type: 'save-settings', settings: state.settings, placement: state.placement }), 400);
}

export function renderPlacement(v: UiView): void {
  const canFill = v.state.selection.target?.canFill ?? true;
  const effective: Placement = canFill ? v.state.placement : 'beside';
  for (const b of document.querySelectorAll<HTMLButtonElement>('#placement button')) b.setAttribute('aria-pressed', String(b.dataset.v === effective));
}
