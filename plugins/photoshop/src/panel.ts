/**
 * Binds index.html's elements to the controller and the connection: every control writes through
 * `controller.update` (saved at once), and `render` redraws from state without touching a field the
 * user is typing in. Plain DOM elements, so the same markup works in UXP and in a browser.
 */
import { SAMPLERS, type BlockPreset, type ControlPreprocess, type ControlType, type SamplerName } from '../../../shared/protocol/messages.ts';
import { problemHelp } from '../../../shared/plugin/reconnect.ts';
import type { BridgeConnection } from '../../../shared/plugin/connection.ts';
import { randomSeed } from '../../../shared/plugin/job.ts';
import { SIZE_CHOICES, type GenerationSettings, type ReferenceSource } from '../../../shared/plugin/settings.ts';
import type { RegionMode } from '../../../shared/plugin/region.ts';
import { scaleGuidance } from '../../../shared/plugin/scale-guidance.ts';
import type { PanelController } from './controller.ts';
import type { LayerInfo, PsHost } from './host.ts';

export interface PanelDeps {
  root: Document;
  host: PsHost;
  controller: PanelController;
  connection: BridgeConnection;
  /** Saves the token and port and reconnects. */
  connect(token: string | null, port: number): Promise<void>;
  hasToken(): boolean;
}

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

/** The button an event came from (without Element.closest, which older UXP versions lack). */
function buttonOf(t: EventTarget | null): HTMLElement | null {
  let n = t as HTMLElement | null;
  while (n && n.tagName !== 'BUTTON') n = n.parentElement;
  return n;
}

/** Layers worth offering as a reference or control: pixels of their own. */
function pickable(l: LayerInfo): boolean {
  return l.kind === 'pixel' || l.kind === 'smartObject' || l.kind === 'text';
}

export function mountPanel(d: PanelDeps): { render(): void; refreshLayers(): void } {
  const doc = d.root;
  const $ = <T extends HTMLElement>(id: string): T => {
    const el = doc.getElementById(id);
    if (!el) throw new Error(`panel: #${id} missing from index.html`);
    return el as T;
  };
  const ctl = d.controller;
  const conn = d.connection;
  const el = {
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
  const optionKeys = new WeakMap<HTMLSelectElement, string>();
  let connOpen = false;
  let layers: LayerInfo[] = [];
  let renderedResults = '';

  const s = (): GenerationSettings => ctl.settings;
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
  const layerOptions = (current: number | null, currentName: string): Array<{ value: string; label: string }> => {
    const items = [{ value: '', label: 'None' }];
    for (const l of layers) {
      if (!pickable(l)) continue;
      items.push({ value: String(l.id), label: `${'\u00a0\u00a0'.repeat(l.depth)}${l.name}${l.visible ? '' : ' (hidden)'}` });
    }
    if (current !== null && !layers.some((l) => l.id === current)) items.push({ value: String(current), label: `${currentName || 'layer'} (not in this document)` });
    return items;
  };

  // ---------------------------------------------------------------- events

  el.connToggle.addEventListener('click', () => {
    connOpen = !connOpen;
    render();
  });
  el.connect.addEventListener('click', () => {
    const token = el.token.value.trim();
    el.token.value = '';
    void d.connect(token || null, Math.round(num(el.port, conn.port)));
    connOpen = false;
    render();
  });
  el.token.addEventListener('keydown', (ev) => {
    if ((ev as KeyboardEvent).key === 'Enter') el.connect.click();
  });

  el.prompt.addEventListener('input', () => ctl.update({ prompt: el.prompt.value }));
  el.negative.addEventListener('input', () => ctl.update({ negativePrompt: el.negative.value }));

  onSegment(el.refSource, (v) => ctl.update({ reference: { ...s().reference, source: v as ReferenceSource } }));
  el.refLayer.addEventListener('change', () => {
    const id = Number(el.refLayer.value) || null;
    const l = layers.find((x) => x.id === id);
    ctl.update({ reference: { ...s().reference, source: id ? 'layer' : s().reference.source, layerId: id, layerName: l?.name ?? '' } });
  });
  el.refCurrent.addEventListener('click', () => ctl.useCurrentLayer('reference'));
  el.refPick.addEventListener('click', () => void ctl.pickReferenceFile());
  el.adapter.addEventListener('change', () => ctl.update({ adapter: el.adapter.value as GenerationSettings['adapter'] }));
  el.preset.addEventListener('change', () => ctl.update({ preset: el.preset.value as BlockPreset }));
  el.refScale.addEventListener('input', () => ctl.update({ referenceScale: num(el.refScale, s().referenceScale) }));

  el.ctlLayer.addEventListener('change', () => {
    const id = Number(el.ctlLayer.value) || null;
    const l = layers.find((x) => x.id === id);
    ctl.update({ control: { ...s().control, layerId: id, layerName: l?.name ?? '' } });
  });
  el.ctlCurrent.addEventListener('click', () => ctl.useCurrentLayer('control'));
  el.ctlType.addEventListener('change', () => {
    const type = el.ctlType.value as ControlType;
    ctl.update({ controlType: type, controlPreprocess: s().controlPreprocess === 'none' ? 'none' : DETECT[type] });
  });
  el.ctlPre.addEventListener('change', () => ctl.update({ controlPreprocess: el.ctlPre.value === 'detect' ? DETECT[s().controlType] : 'none' }));
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
  el.sampler.addEventListener('change', () => ctl.update({ sampler: el.sampler.value as SamplerName }));
  el.seed.addEventListener('change', () => {
    const v = Math.round(num(el.seed, -1));
    if (v >= 0) ctl.update({ seed: v }); // typing a seed locks it
  });
  el.seedLock.addEventListener('change', () => ctl.update({ seed: el.seedLock.checked ? (s().seed ?? s().lastSeed) : null }));
  el.seedRandom.addEventListener('click', () => ctl.update({ seed: randomSeed(Math.random) }));
  el.size.addEventListener('change', () => ctl.update({ size: Number(el.size.value) }));
  el.guidance.addEventListener('change', () => ctl.update({ guidance: num(el.guidance, s().guidance) }));

  el.generate.addEventListener('click', () => void ctl.generate());
  el.cancel.addEventListener('click', () => ctl.cancel());
  el.regenerate.addEventListener('click', () => void ctl.repeatSelected('regenerate'));
  el.variation.addEventListener('click', () => void ctl.repeatSelected('variation'));
  el.loadSettings.addEventListener('click', () => void ctl.loadFromSelected());
  el.results.addEventListener('click', (ev) => {
    const id = buttonOf(ev.target)?.getAttribute('data-id');
    if (id) void ctl.reapply(id);
  });

  // ---------------------------------------------------------------- rendering

  function renderStatus(): void {
    const st = conn.state;
    const welcome = conn.welcome;
    let cls = '';
    let text = 'Not connected';
    let detail = '';
    let command = '';
    switch (st.phase) {
      case 'idle':
        detail = 'Paste the pairing token to connect to the ipa-bridge daemon.';
        break;
      case 'connecting':
        cls = 'busy';
        text = st.attempt ? `Connecting… (try ${st.attempt + 1})` : 'Connecting…';
        break;
      case 'connected': {
        const caps = welcome?.capabilities;
        cls = caps?.provider ? 'ok' : 'bad';
        text = caps?.provider ? 'Connected' : 'Connected — engine unavailable';
        detail = caps
          ? caps.provider
            ? `${welcome!.server.name} ${welcome!.server.version} · ${caps.provider.toUpperCase()} · ${caps.models.length} model${caps.models.length === 1 ? '' : 's'}`
            : caps.engineError ?? 'The daemon could not load its engine.'
          : '';
        // What the installed models cannot do yet, with the command that fetches them.
        const missing = caps?.provider ? (caps.missing ?? []) : [];
        if (missing.length) {
          detail += ` · missing: ${missing.map((m) => `${m.feature} (no ${m.lacks.join(', no ')})`).join('; ')}`;
          command = [...new Set(missing.flatMap((m) => m.command.split(' && ')))].join(' && ');
        }
        break;
      }
      case 'waiting': {
        cls = 'bad';
        const secs = Math.max(0, Math.ceil(((conn.retryAt ?? Date.now()) - Date.now()) / 1000));
        const help = problemHelp(st.problem, conn.port);
        text = `${help.title} — retrying in ${secs} s`;
        detail = `${help.detail}${st.problem.code === 'unreachable' ? ' If it is running, check the pairing token.' : ''}`;
        command = help.command ?? '';
        break;
      }
      case 'stopped': {
        cls = 'bad';
        const help = problemHelp(st.problem, conn.port);
        text = help.title;
        detail = help.detail;
        command = help.command ?? '';
        break;
      }
    }
    el.statusDot.className = cls;
    el.statusText.textContent = text;
    el.statusDetail.textContent = detail;
    el.statusCode.textContent = command;
    show(el.statusCommand, !!command);
    const needsUser = st.phase === 'idle' || st.phase === 'stopped';
    show(el.connBox, connOpen || needsUser);
    el.token.placeholder = d.hasToken() ? 'saved — paste to replace' : 'paste the pairing token';
    setValue(el.port, String(conn.port));
  }

  function renderForm(): void {
    const st = s();
    const caps = conn.welcome?.capabilities;
    setValue(el.prompt, st.prompt);
    setValue(el.negative, st.negativePrompt);

    segment(el.refSource, st.reference.source);
    show(el.refLayerRow, st.reference.source === 'layer');
    show(el.refFileRow, st.reference.source === 'file');
    show(el.refOptions, st.reference.source !== 'none');
    options(el.refLayer, layerOptions(st.reference.layerId, st.reference.layerName));
    setValue(el.refLayer, st.reference.layerId === null ? '' : String(st.reference.layerId));
    el.refFileName.textContent = st.reference.fileName
      ? `${st.reference.fileName}${ctl.referenceFile?.name === st.reference.fileName ? '' : ' (choose again)'}`
      : 'PNG or JPEG';
    const adapters = ctl.adapters();
    options(el.adapter, adapters.map((a) => ({ value: a, label: ADAPTER_LABELS[a] ?? a })));
    setValue(el.adapter, adapters.includes(st.adapter) ? st.adapter : adapters[0]);
    setValue(el.preset, st.preset);
    setValue(el.refScale, String(st.referenceScale));
    el.refScaleVal.textContent = st.referenceScale.toFixed(2);
    const g = scaleGuidance(st.referenceScale);
    el.refGuide.className = `guide small muted tone-${g.tone}`;
    el.refGuide.textContent = '';
    const b = doc.createElement('b');
    b.textContent = g.label;
    el.refGuide.appendChild(b);
    el.refGuide.appendChild(doc.createTextNode(` — ${g.hint}`));

    options(el.ctlLayer, layerOptions(st.control.layerId, st.control.layerName));
    setValue(el.ctlLayer, st.control.layerId === null ? '' : String(st.control.layerId));
    show(el.ctlOptions, st.control.layerId !== null);
    setValue(el.ctlType, st.controlType);
    setValue(el.ctlPre, st.controlPreprocess === 'none' ? 'map' : 'detect');
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
    setValue(el.sampler, st.sampler);
    setValue(el.seed, String(st.seed ?? st.lastSeed));
    el.seedLock.checked = st.seed !== null;
    el.seed.classList.toggle('muted', st.seed === null);
    const max = caps?.maxPixels ?? Infinity;
    const sizes = SIZE_CHOICES.filter((c, i) => i === 0 || c.pixels <= max);
    options(el.size, sizes.map((c) => ({ value: String(c.pixels), label: c.label })));
    setValue(el.size, String(sizes.some((c) => c.pixels === st.size) ? st.size : sizes[0].pixels));
    setValue(el.guidance, String(st.guidance));
  }

  function renderJob(): void {
    const job = ctl.job;
    const connected = conn.state.phase === 'connected';
    el.generate.disabled = !!job || !connected;
    el.generate.textContent = job ? 'Generating…' : 'Generate';
    show(el.cancel, !!job);
    el.cancel.disabled = ctl.job?.phase === 'inserting';
    for (const b of [el.regenerate, el.variation]) b.disabled = !!job || !connected;
    show(el.progressBox, !!job);
    if (!job) return;
    const pct = job.total ? Math.round((job.step / job.total) * 100) : 0;
    el.bar.style.width = `${job.phase === 'inserting' ? 100 : pct}%`;
    const eta = job.etaMs > 0 ? ` · ${Math.ceil(job.etaMs / 1000)} s left` : '';
    el.progressText.textContent = {
      reading: 'Reading the document…',
      sending: 'Sending to the bridge…',
      queued: job.position > 0 ? `Queued — ${job.position} job${job.position === 1 ? '' : 's'} ahead` : 'Starting…',
      running: `Step ${job.step} of ${job.total}${eta}`,
      reconnecting: 'Connection lost — the job keeps running; resuming when back…',
      inserting: 'Adding the layer…',
    }[job.phase];
    show(el.preview, !!job.previewUrl);
    if (job.previewUrl && el.preview.src !== job.previewUrl) el.preview.src = job.previewUrl;
  }

  function renderNotice(): void {
    const n = ctl.notice;
    show(el.notice, !!n);
    if (!n) return;
    el.notice.className = n.kind === 'info' ? '' : n.kind;
    el.notice.textContent = n.text;
  }

  function renderResults(): void {
    const key = ctl.results.map((r) => r.id).join(',');
    show(el.emptyResults, ctl.results.length === 0);
    if (key === renderedResults) return;
    renderedResults = key;
    el.results.textContent = '';
    for (const r of ctl.results) {
      const b = doc.createElement('button');
      b.className = 'thumb';
      b.setAttribute('data-id', r.id);
      b.title = `Seed ${r.seed}${r.prompt ? ` — ${r.prompt}` : ''}\nClick to apply again`;
      const img = doc.createElement('img');
      img.src = r.thumbUrl;
      img.alt = `seed ${r.seed}`;
      const cap = doc.createElement('span');
      cap.textContent = String(r.seed);
      b.appendChild(img);
      b.appendChild(cap);
      el.results.appendChild(b);
    }
  }

  function render(): void {
    renderStatus();
    renderNotice();
    renderForm();
    renderJob();
    renderResults();
  }

  function refreshLayers(): void {
    const active = d.host.activeDocument();
    layers = active ? d.host.layers(active.id) : [];
    renderForm();
  }

  ctl.subscribe(render);
  conn.subscribe(render);
  let pending: ReturnType<typeof setTimeout> | null = null;
  d.host.onDocumentChange(() => {
    // Photoshop sends bursts of events: one refresh per burst.
    if (pending) clearTimeout(pending);
    pending = setTimeout(() => {
      pending = null;
      refreshLayers();
    }, 200);
  });
  // A countdown while waiting to reconnect.
  setInterval(() => {
    if (conn.state.phase === 'waiting') renderStatus();
  }, 1000);
  refreshLayers();
  render();
  return { render, refreshLayers };
}
