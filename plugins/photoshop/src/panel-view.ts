/**
 * The panel's DOM: its elements by id, small helpers to set fields without fighting the user's typing,
 * and the view context the wiring and rendering modules share.
 */
import type { BridgeConnection } from '../../../shared/plugin/connection.ts';
import type { PanelController } from './controller.ts';
import type { LayerInfo } from './host.ts';

/** The button an event came from (without Element.closest, which older UXP versions lack). */
export function buttonOf(t: EventTarget | null): HTMLElement | null {
  let n = t as HTMLElement | null;
  while (n && n.tagName !== 'BUTTON') n = n.parentElement;
  return n;
}

export function panelElements(doc: Document) {
  const $ = <T extends HTMLElement>(id: string): T => {
    const el = doc.getElementById(id);
    if (!el) throw new Error(`panel: #${id} missing from index.html`);
    return el as T;
  };
  return {
    statusDot: $('statusDot'), statusText: $('statusText'), statusDetail: $('statusDetail'), statusCommand: $('statusCommand'), statusCode: $('statusCode'),
    connToggle: $('connToggle'), connBox: $('connBox'),
    token: $<HTMLInputElement>('token'), port: $<HTMLInputElement>('port'), connect: $('connect'), notice: $('notice'),
    prompt: $<HTMLTextAreaElement>('prompt'), negative: $<HTMLTextAreaElement>('negative'),
    refSource: $('refSource'), refLayerRow: $('refLayerRow'), refLayer: $<HTMLSelectElement>('refLayer'), refCurrent: $('refCurrent'),
    refFileRow: $('refFileRow'), refPick: $('refPick'), refFileName: $('refFileName'), refOptions: $('refOptions'),
    adapter: $<HTMLSelectElement>('adapter'), preset: $<HTMLSelectElement>('preset'), refScale: $<HTMLInputElement>('refScale'),
    refScaleVal: $('refScaleVal'), refGuide: $('refGuide'),
    ctlLayer: $<HTMLSelectElement>('ctlLayer'), ctlCurrent: $('ctlCurrent'), ctlOptions: $('ctlOptions'), ctlType: $<HTMLSelectElement>('ctlType'),
    ctlPre: $<HTMLSelectElement>('ctlPre'), ctlScale: $<HTMLInputElement>('ctlScale'), ctlScaleVal: $('ctlScaleVal'),
    ctlStart: $<HTMLInputElement>('ctlStart'), ctlEnd: $<HTMLInputElement>('ctlEnd'),
    mode: $('mode'), strengthRow: $('strengthRow'), strength: $<HTMLInputElement>('strength'), strengthVal: $('strengthVal'), modeHint: $('modeHint'),
    steps: $<HTMLInputElement>('steps'), sampler: $<HTMLSelectElement>('sampler'), seed: $<HTMLInputElement>('seed'), seedLock: $<HTMLInputElement>('seedLock'),
    seedRandom: $('seedRandom'), size: $<HTMLSelectElement>('size'), guidance: $<HTMLInputElement>('guidance'),
    generate: $<HTMLButtonElement>('generate'), cancel: $<HTMLButtonElement>('cancel'), progressBox: $('progressBox'), bar: $('bar'),
    progressText: $('progressText'), preview: $<HTMLImageElement>('preview'),
    results: $('results'), emptyResults: $('emptyResults'), regenerate: $<HTMLButtonElement>('regenerate'), variation: $<HTMLButtonElement>('variation'),
    loadSettings: $<HTMLButtonElement>('loadSettings'),
  };
}

export type PanelElements = ReturnType<typeof panelElements>;

export function formKit(doc: Document) {
  const optionKeys = new WeakMap<HTMLSelectElement, string>();
  const show = (e: HTMLElement, on: boolean): void => void e.classList.toggle('hidden', !on);
  /** Sets a field's value unless the user is typing in it. */
  const setValue = (e: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement, v: string): void => {
    if (doc.activeElement !== e && e.value !== v) e.value = v;
  };
  const options = (sel: HTMLSelectElement, items: Array<{ value: string; label: string }>): void => {
    const key = items.map((i) => `${i.value}\u0000${i.label}`).join('\u0001');
    if (optionKeys.get(sel) === key) return;
    optionKeys.set(sel, key);
    sel.textContent = '';
    for (const i of items) {
      const o = doc.createElement('option');
      o.value = i.value;
      o.textContent = i.label;
      sel.appendChild(o);
    }
  };
  const segment = (box: HTMLElement, value: string): void => {
    for (const b of Array.from(box.getElementsByTagName('button'))) b.classList.toggle('on', b.getAttribute('data-v') === value);
  };
  const onSegment = (box: HTMLElement, fn: (v: string) => void): void => {
    box.addEventListener('click', (ev) => {
      const v = buttonOf(ev.target)?.getAttribute('data-v');
      if (v) fn(v);
    });
  };
  const num = (e: HTMLInputElement, fallback: number): number => {
    const v = Number(e.value);
    return Number.isFinite(v) && e.value.trim() !== '' ? v : fallback;
  };
  return { show, setValue, options, segment, onSegment, num };
}

export type FormKit = ReturnType<typeof formKit>;

export interface PanelView {
  doc: Document;
  el: PanelElements;
  kit: FormKit;
  ctl: PanelController;
  conn: BridgeConnection;
  state: { connOpen: boolean; layers: LayerInfo[]; renderedResults: string };
}
