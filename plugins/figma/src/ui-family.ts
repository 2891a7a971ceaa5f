/**
 * The model picker and the family line (shared/plugin/families.ts): the installed checkpoints with their
 * family, the family of the chosen one, and only the adapter kinds and control types its models allow.
 * Host glue: the rule itself is shared with the Photoshop panel.
 */
import { checkpointChoices, checkpointFamily, familyOffer, FAMILY_LABELS, type FamilyOffer } from '../../../shared/plugin/families.ts';
import { DEFAULT_SETTINGS } from '../../../shared/plugin/settings.ts';
import { ADAPTER_KINDS } from '../../../shared/protocol/messages.ts';
import { $, type UiView } from './ui-view.ts';

export interface FamilyPicker {
  render(): void;
}

/** `changed`: the settings changed here (saved and drawn into the form by the caller). */
export function mountFamily(v: UiView, changed: () => void): FamilyPicker {
  const select = $<HTMLSelectElement>('checkpoint');
  select.addEventListener('change', () => {
    // A model picked by hand leaves the speed preset (its LoRA and step recipe fit another model), and
    // steps / sampler / CFG go back to "not set" so the new family's defaults apply.
    const { steps, sampler, guidance } = DEFAULT_SETTINGS;
    v.state.settings = { ...v.state.settings, checkpoint: select.value, speed: 'custom', loras: [], eta: null, draftDecode: false, steps, sampler, guidance };
    changed();
    render();
  });

  function render(): void {
    const caps = v.conn.welcome?.capabilities;
    const s = v.state.settings;
    const choices = caps ? checkpointChoices(caps) : [];
    const opts: Array<[string, string]> = [['', caps ? `Daemon default (${FAMILY_LABELS[checkpointFamily(caps, '')]})` : 'Daemon default'], ...choices.map((c): [string, string] => [c.name, c.label])];
    if (s.checkpoint && !opts.some(([value]) => value === s.checkpoint)) opts.push([s.checkpoint, `${s.checkpoint} (not installed)`]);
    const key = opts.map((o) => o.join('\u0000')).join('\u0001');
    if (select.dataset.key !== key) {
      select.replaceChildren(...opts.map(([value, label]) => new Option(label, value)));
      select.dataset.key = key;
    }
    select.value = s.checkpoint;
    select.disabled = !caps;
    const offer = caps ? familyOffer(caps, s.checkpoint) : null;
    $('family-label').textContent = offer ? familyLine(offer, s.speed === 'custom') : '';
    // Only the adapter kinds and control types the family has models for.
    const adapters = offer?.adapters.length ? offer.adapters : ADAPTER_KINDS;
    const adapterSel = $<HTMLSelectElement>('adapter');
    if (adapterSel.dataset.key !== adapters.join(',')) {
      adapterSel.replaceChildren(...adapters.map((a) => new Option(a, a)));
      adapterSel.dataset.key = adapters.join(',');
    }
    adapterSel.value = adapters.includes(s.adapter) ? s.adapter : adapters[0];
    for (const o of Array.from($<HTMLSelectElement>('controlType').options)) {
      o.disabled = !!offer?.controls.length && !offer.controls.includes(o.value.split(':')[0] as FamilyOffer['controls'][number]);
    }
  }

  return { render };
}

/** "SDXL · nearest aspect bucket (1024²) · 30 steps, CFG 5 where not set". */
function familyLine(f: FamilyOffer, custom: boolean): string {
  const size = f.family === 'sdxl' && f.defaults.buckets?.length ? `nearest of ${f.defaults.buckets.length} aspect buckets (${f.defaults.width}²)` : 'about 512²';
  const unset = f.family !== 'sd15' && custom ? ` · ${f.defaults.steps} steps, CFG ${f.defaults.guidance}, ${f.defaults.sampler} where not set` : '';
  return `${f.label} · ${size}${unset}`;
}
