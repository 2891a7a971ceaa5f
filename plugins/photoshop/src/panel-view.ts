/**
 * The panel's DOM: its elements by id, small helpers to set fields without fighting the user's typing,
 * and the view context the wiring and rendering modules share.
 */
import type { BridgeConnection } from '../../../shared/plugin/connection.ts';
import type { PanelController } from './controller.ts';
import type { LayerInfo } from './host.ts';

/** The element an event came from that carries `attr` (without Element.closest, which older UXP lacks). */
export function carrierOf(t: EventTarget | null, attr: string): HTMLElement | null {
  let n = t as HTMLElement | null;
  while (n && !n.hasAttribute?.(attr)) n = n.parentElement;
  return n;
}

/**
 * UXP's Spectrum widgets as the panel uses them (developer.adobe.com/photoshop/uxp, *Spectrum UXP
 * Widgets*): sp-textfield, sp-textarea and sp-slider have `value` (a slider's may be a number) and fire
 * `input` and `change`; sp-checkbox has `checked` and fires `change`; sp-picker fires `change` and has
 * `selectedIndex`, its choices are the sp-menu-item elements of its `<sp-menu slot="options">`, the
 * chosen one marked `selected`. sp-button / sp-action-button take `disabled`, `quiet`, `selected`.
 */
export type SpField = HTMLElement & { value: string | number };
export type SpCheckbox = HTMLElement & { checked: boolean };
export type SpPicker = HTMLElement & { selectedIndex?: number };

export function panelElements(doc: Document) {
  const $ = <T extends HTMLElement>(id: string): T => {
    const el = doc.getElementById(id);
    if (!el) throw new Error(`panel: #${id} missing from index.html`);
    return el as T;
  };
  return {
    statusDot: $('statusDot'), statusText: $('statusText'), statusDetail: $('statusDetail'), statusCommand: $('statusCommand'), statusCode: $('statusCode'),
    connToggle: $('connToggle'), connBox: $('connBox'),
    token: $<SpField>('token'), port: $<SpField>('port'), connect: $('connect'), notice: $('notice'),
    prompt: $<SpField>('prompt'), negative: $<SpField>('negative'),
    refSource: $('refSource'), refLayerRow: $('refLayerRow'), refLayer: $<SpPicker>('refLayer'), refCurrent: $('refCurrent'),
    refFileRow: $('refFileRow'), refPick: $('refPick'), refFileName: $('refFileName'), refOptions: $('refOptions'),
    adapter: $<SpPicker>('adapter'), preset: $<SpPicker>('preset'), refScale: $<SpField>('refScale'),
    refScaleVal: $('refScaleVal'), refGuide: $('refGuide'), refMaskRow: $('refMaskRow'), refMask: $<SpPicker>('refMask'),
    ref2Row: $('ref2Row'), ref2Layer: $<SpPicker>('ref2Layer'), ref2MaskRow: $('ref2MaskRow'), ref2Mask: $<SpCheckbox>('ref2Mask'),
    checkpoint: $<SpPicker>('checkpoint'), familyLabel: $('familyLabel'),
    ctlLayer: $<SpPicker>('ctlLayer'), ctlCurrent: $('ctlCurrent'), ctlOptions: $('ctlOptions'), ctlType: $<SpPicker>('ctlType'),
    ctlPre: $<SpPicker>('ctlPre'), ctlScale: $<SpField>('ctlScale'), ctlScaleVal: $('ctlScaleVal'),
    ctlStart: $<SpField>('ctlStart'), ctlEnd: $<SpField>('ctlEnd'),
    mode: $('mode'), strengthRow: $('strengthRow'), strength: $<SpField>('strength'), strengthVal: $('strengthVal'), modeHint: $('modeHint'),
    steps: $<SpField>('steps'), sampler: $<SpPicker>('sampler'), seed: $<SpField>('seed'), seedLock: $<SpCheckbox>('seedLock'),
    seedRandom: $('seedRandom'), size: $<SpPicker>('size'), guidance: $<SpField>('guidance'),
    generate: $('generate'), cancel: $('cancel'), progressBox: $('progressBox'), bar: $('bar'),
    progressText: $('progressText'), preview: $<HTMLImageElement>('preview'),
    results: $('results'), emptyResults: $('emptyResults'), regenerate: $('regenerate'), variation: $('variation'),
    loadSettings: $('loadSettings'),
  };
}

export type PanelElements = ReturnType<typeof panelElements>;

export function formKit(doc: Document) {
  const optionKeys = new WeakMap<HTMLElement, string>();
  const show = (e: HTMLElement, on: boolean): void => void e.classList.toggle('hidden', !on);
  /** Spectrum widgets read `disabled` as an attribute. */
  const enable = (e: HTMLElement, on: boolean): void => {
    if (on) e.removeAttribute('disabled');
    else e.setAttribute('disabled', '');
  };
  /** Sets a field's value unless the user is typing in it. */
  const setValue = (e: SpField, v: string): void => {
    if (doc.activeElement !== e && String(e.value) !== v) e.value = v;
  };
  const items = (picker: SpPicker): HTMLElement[] => Array.from(picker.getElementsByTagName('sp-menu-item')) as HTMLElement[];
  /** A picker's choices: sp-menu-items in its options menu, each value in `data-value`. */
  const options = (picker: SpPicker, list: Array<{ value: string; label: string }>): void => {
    const key = list.map((i) => `${i.value}\u0000${i.label}`).join('\u0001');
    if (optionKeys.get(picker) === key) return;
    optionKeys.set(picker, key);
    const menu = picker.getElementsByTagName('sp-menu')[0] as HTMLElement | undefined;
    if (!menu) throw new Error(`panel: #${picker.id} has no <sp-menu slot="options">`);
    const chosen = picked(picker);
    menu.textContent = '';
    for (const i of list) {
      const m = doc.createElement('sp-menu-item');
      m.setAttribute('data-value', i.value);
      m.textContent = i.label;
      if (i.value === chosen) m.setAttribute('selected', '');
      menu.appendChild(m);
    }
  };
  /** The chosen value: the item at `selectedIndex`, else the one marked `selected`. */
  const picked = (picker: SpPicker): string => {
    const all = items(picker);
    const at = typeof picker.selectedIndex === 'number' && picker.selectedIndex >= 0 ? all[picker.selectedIndex] : all.find((m) => m.hasAttribute('selected'));
    return at?.getAttribute('data-value') ?? '';
  };
  const pick = (picker: SpPicker, value: string): void => {
    if (picked(picker) === value && items(picker).some((m) => m.hasAttribute('selected'))) return;
    for (const m of items(picker)) {
      if (m.getAttribute('data-value') === value) m.setAttribute('selected', '');
      else m.removeAttribute('selected');
    }
  };
  const segment = (box: HTMLElement, value: string): void => {
    for (const b of Array.from(box.children)) {
      if (b.getAttribute('data-v') === value) b.setAttribute('selected', '');
      else b.removeAttribute('selected');
    }
  };
  const onSegment = (box: HTMLElement, fn: (v: string) => void): void => {
    box.addEventListener('click', (ev) => {
      const v = carrierOf(ev.target, 'data-v')?.getAttribute('data-v');
      if (v) fn(v);
    });
  };
  const num = (e: SpField, fallback: number): number => {
    const raw = String(e.value).trim();
    const v = Number(raw);
    return Number.isFinite(v) && raw !== '' ? v : fallback;
  };
  return { show, enable, setValue, options, picked, pick, segment, onSegment, num };
}

export type FormKit = ReturnType<typeof formKit>;

export interface PanelView {
  doc: Document;
  el: PanelElements;
  kit: FormKit;
  ctl: PanelController;
  conn: BridgeConnection;
  /** `channels`: the active document's saved selections (alpha channels), for a reference's region. */
  state: { connOpen: boolean; layers: LayerInfo[]; channels?: string[]; renderedResults: string };
}
