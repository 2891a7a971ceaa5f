/**
 * The speed preset picker (Live / Fast / Quality, from what the daemon has installed) and the Live
 * section: the toggle, its strength, the live-layer option, Apply, the live picture and its status.
 * The elements are looked up here, not in panel-view.ts, so the section stays one self-contained part.
 */
import { applySpeedPreset } from '../../../shared/plugin/settings.ts';
import { presetRecipe, SPEED_PRESET_LABELS, SPEED_PRESETS, type SpeedPreset } from '../../../shared/plugin/speed-presets.ts';
import type { PsLiveMode } from './live.ts';
import type { PanelView, SpCheckbox, SpField, SpPicker } from './panel-view.ts';

function liveElements(doc: Document) {
  const $ = <T extends HTMLElement>(id: string): T => {
    const el = doc.getElementById(id);
    if (!el) throw new Error(`panel: #${id} missing from index.html`);
    return el as T;
  };
  return {
    speed: $<SpPicker>('speed'), speedLabel: $('speedLabel'),
    liveToggle: $<SpCheckbox>('liveToggle'), liveStrength: $<SpField>('liveStrength'), liveStrengthVal: $('liveStrengthVal'),
    liveLayer: $<SpCheckbox>('liveLayer'), liveApply: $('liveApply'), livePreview: $<HTMLImageElement>('livePreview'), liveStatus: $('liveStatus'),
  };
}

/** Settings that change what a live job would produce (everything but bookkeeping). */
function liveKey(v: PanelView): string {
  const { lastSeed: _l, speed: _s, liveLayer: _ll, ...rest } = v.ctl.settings;
  return JSON.stringify(rest);
}

export function mountLive(v: PanelView, live: PsLiveMode): { render(): void } {
  const e = liveElements(v.doc);
  const { ctl, conn } = v;
  const { show, enable, options, picked, pick, setValue } = v.kit;

  e.speed.addEventListener('change', () => {
    const value = picked(e.speed);
    const caps = conn.welcome?.capabilities;
    if (!caps || !(SPEED_PRESETS as readonly string[]).includes(value)) return;
    ctl.update(applySpeedPreset(ctl.settings, presetRecipe(value as SpeedPreset, caps.models)));
  });
  e.liveToggle.addEventListener('change', () => (e.liveToggle.checked ? live.start() : live.stop()));
  const strength = (): void => ctl.update({ liveStrength: Number(e.liveStrength.value) });
  e.liveStrength.addEventListener('input', () => void (e.liveStrengthVal.textContent = `${Math.round(Number(e.liveStrength.value) * 100)}%`));
  e.liveStrength.addEventListener('change', strength);
  e.liveLayer.addEventListener('change', () => ctl.update({ liveLayer: e.liveLayer.checked }));
  e.liveApply.addEventListener('click', () => void live.apply());

  // Any settings change that alters the picture is an edit for live mode (debounced there).
  let lastKey = liveKey(v);
  ctl.subscribe(() => {
    const key = liveKey(v);
    if (key === lastKey) return;
    lastKey = key;
    live.settingsChanged();
  });

  function render(): void {
    const s = ctl.settings;
    const caps = conn.welcome?.capabilities;
    const list = SPEED_PRESETS.map((p) => ({ value: p as string, label: SPEED_PRESET_LABELS[p] }));
    if (s.speed === 'custom') list.push({ value: 'custom', label: 'Custom' });
    options(e.speed, list);
    pick(e.speed, s.speed);
    enable(e.speed, !!caps);
    e.speedLabel.textContent = caps && s.speed !== 'custom' ? presetRecipe(s.speed, caps.models).label : '';

    const lv = live.view;
    if (e.liveToggle.checked !== lv.on) e.liveToggle.checked = lv.on;
    enable(e.liveToggle, conn.state.phase === 'connected' || lv.on);
    setValue(e.liveStrength, String(s.liveStrength));
    e.liveStrengthVal.textContent = `${Math.round(s.liveStrength * 100)}%`;
    if (e.liveLayer.checked !== s.liveLayer) e.liveLayer.checked = s.liveLayer;
    enable(e.liveApply, lv.canApply);
    show(e.livePreview, lv.on && !!lv.imageUrl);
    if (lv.imageUrl && e.livePreview.src !== lv.imageUrl) e.livePreview.src = lv.imageUrl;
    const phase = {
      off: 'Off — edits are not watched.',
      idle: 'Watching the document…',
      debouncing: 'Edited — waiting for a pause…',
      running: lv.total ? `Step ${lv.step} of ${lv.total}` : 'Generating…',
      offline: 'Waiting for the daemon…',
    }[lv.phase];
    const parts = lv.on ? [phase, `seed ${lv.seed}`, lv.model, `${lv.stats.results} shown · ${lv.stats.cancelled} cancelled`] : [phase];
    if (lv.note) parts.push(lv.note);
    e.liveStatus.textContent = parts.filter(Boolean).join(' · ');
  }

  live.subscribe(render);
  return { render };
}
