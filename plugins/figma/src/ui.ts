/**
 * The UI iframe (bundled and inlined into dist/figma/ui.html). Holds the WebSocket to the daemon (the
 * sandbox has none), the settings form and the run display; document work is asked of the sandbox.
 */
import pkg from '../../../package.json';
import { BridgeConnection } from '../../../shared/plugin/connection.ts';
import { PendingJobs, type KeyValueStore } from '../../../shared/plugin/pending-jobs.ts';
import { problemHelp, type ConnectionState } from '../../../shared/plugin/reconnect.ts';
import { scaleGuidance } from '../../../shared/plugin/scale-guidance.ts';
import { DEFAULT_CONNECTION, DEFAULT_SETTINGS, parseConnection, parseSettings, type ConnectionSettings, type GenerationSettings } from '../../../shared/plugin/settings.ts';
import { ADAPTER_KINDS, BLOCK_PRESETS, SAMPLERS, type ControlPreprocess, type ControlType } from '../../../shared/protocol/messages.ts';
import type { Intent, Placement, RoleEntry, SandboxMessage, SelectionInfo } from './messages.ts';
import { PENDING_KEY } from './store.ts';
import { SandboxLink } from './ui-host.ts';
import { GenerationRun, type RunStatus } from './ui-run.ts';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`ui.html lacks #${id}`);
  return el as T;
};

interface UiState {
  ready: boolean;
  connection: ConnectionSettings;
  settings: GenerationSettings;
  placement: Placement;
  selection: SelectionInfo;
  roles: RoleEntry[];
  run: GenerationRun | null;
  runStatus: RunStatus | null;
}

const state: UiState = {
  ready: false,
  connection: DEFAULT_CONNECTION,
  settings: DEFAULT_SETTINGS,
  placement: 'fill',
  selection: { target: null, count: 0, hint: 'Select a frame or shape to generate into.' },
  roles: [],
  run: null,
  runStatus: null,
};

const sandbox = new SandboxLink(window);

/**
 * The storage port: the iframe has no storage of its own under Figma's null origin, so the sandbox's
 * clientStorage holds the pending jobs; this cache answers synchronously and writes through.
 */
function sandboxStore(): KeyValueStore & { seed(key: string, value: string | null): void } {
  const cache = new Map<string, string>();
  return {
    load: (key) => cache.get(key) ?? null,
    save: (key, value) => {
      if (value === null) cache.delete(key);
      else cache.set(key, value);
      if (key === PENDING_KEY) sandbox.send({ type: 'save-pending', value });
    },
    seed: (key, value) => void (value === null ? cache.delete(key) : cache.set(key, value)),
  };
}
const store = sandboxStore();
const pending = new PendingJobs(store, PENDING_KEY, Date.now);
const conn = new BridgeConnection({
  openSocket: (url) => new WebSocket(url),
  probe: probeHttp,
  setTimer: (fn, ms) => window.setTimeout(fn, ms),
  clearTimer: (h) => window.clearTimeout(h as number),
  random: Math.random,
  now: Date.now,
  client: { name: 'ipa-bridge-figma', version: pkg.version },
});

/** Is anything listening? The daemon answers plain HTTP with 426; `no-cors` lets a null origin ask. */
async function probeHttp(url: string): Promise<boolean> {
  const ac = new AbortController();
  const t = window.setTimeout(() => ac.abort(), 2500);
  try {
    await fetch(url, { mode: 'no-cors', cache: 'no-store', signal: ac.signal });
    return true;
  } catch {
    return false;
  } finally {
    window.clearTimeout(t);
  }
}

// ---------------------------------------------------------------- connection display

function renderConnection(): void {
  const s: ConnectionState = conn.state;
  const dot = $('status-dot');
  const text = $('status-text');
  const port = conn.port;
  dot.className = `dot ${s.phase === 'connected' ? 'ok' : s.phase === 'connecting' ? 'busy' : s.phase === 'idle' ? '' : 'bad'}`;
  const welcome = conn.welcome;
  if (s.phase === 'connected' && welcome) {
    const { provider: name, device, fp16 } = welcome.capabilities;
    const provider = name ? `${name}${device ? ` (${device}${fp16 ? ', fp16' : ''})` : ''}` : 'no engine';
    text.textContent = `Connected · ${welcome.server.name} ${welcome.server.version} · ${provider}`;
  } else if (s.phase === 'connecting') text.textContent = `Connecting to localhost:${port}…`;
  else if (s.phase === 'idle') text.textContent = state.ready ? 'Not connected: paste the token' : 'Starting…';
  else if (s.phase !== 'connected') text.textContent = problemHelp(s.problem, port).status;

  const banner = $('problem');
  let help: { title: string; detail: string; command?: string } | null = null;
  let isError = true;
  if (s.phase === 'waiting' || s.phase === 'stopped') help = problemHelp(s.problem, port);
  else if (s.phase === 'connected' && welcome?.capabilities.engineError) {
    help = { title: 'The daemon has no working engine', detail: welcome.capabilities.engineError };
    isError = false;
  }
  banner.hidden = help === null;
  if (help) {
    banner.className = `banner${isError ? ' error' : ''}`;
    $('problem-title').textContent = help.title;
    $('problem-detail').textContent = help.detail;
    $('problem-command').hidden = !help.command;
    $('problem-command').textContent = help.command ?? '';
    $('retry').hidden = s.phase === 'connected';
  }
  // What the installed models cannot do yet, with the command that fetches them (welcome.capabilities.missing).
  const missing = s.phase === 'connected' ? (welcome?.capabilities.missing ?? []) : [];
  $('missing').hidden = missing.length === 0;
  $('missing-detail').textContent = missing.map((m) => `${m.feature}: no ${m.lacks.join(', no ')}`).join('; ');
  $('missing-command').textContent = [...new Set(missing.flatMap((m) => m.command.split(' && ')))].join(' && ');
  renderRetryCountdown();
  if (s.phase === 'stopped' && s.problem.code === 'refused') showConnectionPanel(true);
  renderGenerateButton();
}

function renderRetryCountdown(): void {
  const s = conn.state;
  const el = $('problem-retry');
  if (s.phase === 'waiting' && conn.retryAt !== null) {
    const secs = Math.max(0, Math.ceil((conn.retryAt - Date.now()) / 1000));
    el.textContent = secs > 0 ? `Retrying in ${secs} s…` : 'Retrying…';
  } else el.textContent = s.phase === 'stopped' ? 'Not retrying until you fix this.' : '';
}

function showConnectionPanel(show: boolean): void {
  $('connection').hidden = !show;
  $('toggle-settings').setAttribute('aria-pressed', String(show));
  if (show && !state.connection.token) $('token').focus();
}

function connectWithForm(): void {
  const connection = parseConnection({ token: $<HTMLInputElement>('token').value, port: Number($<HTMLInputElement>('port').value) });
  state.connection = connection;
  sandbox.send({ type: 'save-connection', connection });
  conn.configure(connection.token ? { token: connection.token, port: connection.port } : null);
  if (connection.token) showConnectionPanel(false);
}

// ---------------------------------------------------------------- selection and roles

function renderSelection(): void {
  const t = state.selection.target;
  $('target').hidden = !t;
  $('target-hint').hidden = !!t;
  $('target-hint').textContent = state.selection.hint ?? '';
  if (t) {
    $('target-icon').textContent = t.type === 'FRAME' ? '#' : t.type === 'ELLIPSE' ? '○' : t.type === 'TEXT' ? 'T' : '▢';
    $('target-name').textContent = t.name;
    const role = t.role === 'reference' ? ' · style reference' : t.role === 'control' ? ' · pose/control' : '';
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
  renderPlacement();
  renderGenerateButton();
}

function renderRoles(): void {
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
    chip.textContent = r.role === 'reference' ? 'Style' : 'Pose';
    const name = document.createElement('span');
    name.className = 'grow';
    name.textContent = r.name;
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

function markSelection(role: 'reference' | 'control'): void {
  sandbox.send({ type: 'set-role', role: state.selection.target?.role === role ? null : role });
}

// ---------------------------------------------------------------- settings form

const num = (id: string): number => Number($<HTMLInputElement>(id).value);

function fillSelect(id: string, values: readonly string[]): void {
  const sel = $<HTMLSelectElement>(id);
  sel.replaceChildren(...values.map((v) => new Option(v, v)));
}

function writeForm(s: GenerationSettings): void {
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
  renderOutputs();
}

function readForm(): GenerationSettings {
  const [controlType, controlPreprocess] = $<HTMLSelectElement>('controlType').value.split(':') as [ControlType, ControlPreprocess];
  const seedText = $<HTMLInputElement>('seed').value.trim();
  return parseSettings({
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
}

function renderOutputs(): void {
  for (const k of ['strength', 'referenceScale', 'controlScale'] as const) $(`${k}-out`).textContent = Number($<HTMLInputElement>(k).value).toFixed(2);
  const g = scaleGuidance(Number($<HTMLInputElement>('referenceScale').value));
  $('referenceScale-row').title = `${g.label}: ${g.hint}`;
  $('strength-row').classList.toggle('off', !$<HTMLInputElement>('useInit').checked);
  const refs = state.roles.filter((r) => r.role === 'reference').length;
  const ctls = state.roles.filter((r) => r.role === 'control').length;
  $('referenceScale-row').classList.toggle('off', refs === 0);
  $('controlScale-row').classList.toggle('off', ctls === 0);
}

let saveTimer = 0;
function onFormChange(): void {
  state.settings = readForm();
  renderOutputs();
  renderGenerateButton();
  window.clearTimeout(saveTimer);
  // Debounced: clientStorage writes are async round trips through the sandbox.
  saveTimer = window.setTimeout(() => sandbox.send({ type: 'save-settings', settings: state.settings, placement: state.placement }), 400);
}

function renderPlacement(): void {
  const canFill = state.selection.target?.canFill ?? true;
  const effective: Placement = canFill ? state.placement : 'beside';
  for (const b of document.querySelectorAll<HTMLButtonElement>('#placement button')) b.setAttribute('aria-pressed', String(b.dataset.v === effective));
}

// ---------------------------------------------------------------- generation

function renderGenerateButton(): void {
  const btn = $<HTMLButtonElement>('generate');
  const running = state.run !== null && !isFinished(state.runStatus);
  const connected = conn.state.phase === 'connected';
  const t = state.selection.target;
  let label = 'Generate';
  if (!connected) label = 'Connect to the daemon first';
  else if (!t) label = 'Select a frame or shape';
  else if (!state.settings.prompt.trim()) label = 'Write a prompt';
  else if (state.settings.variations > 1) label = `Generate ${state.settings.variations} variations`;
  btn.textContent = running ? 'Generating…' : label;
  btn.disabled = running || !connected || !t || !state.settings.prompt.trim();
  for (const id of ['regenerate', 'variation']) $<HTMLButtonElement>(id).disabled = running || !connected;
}

function isFinished(s: RunStatus | null): boolean {
  return s === null || s.phase === 'done' || s.phase === 'failed' || s.phase === 'cancelled';
}

function startRun(intent: Intent): void {
  const target = state.selection.target;
  if (!target || (state.run && !isFinished(state.runStatus))) return;
  $('previews').replaceChildren();
  const run = new GenerationRun(
    { conn, pending, sandbox, random: Math.random, now: Date.now },
    { intent, settings: state.settings, placement: state.placement, target },
    { status: onRunStatus, preview: drawPreview },
  );
  state.run = run;
  state.runStatus = { phase: 'exporting', message: 'Exporting from Figma…' };
  renderRun();
  void run.start();
}

function onRunStatus(s: RunStatus): void {
  state.runStatus = s;
  renderRun();
  if (s.phase === 'done' && s.images) void drawResults(s.images.map((i) => i.bytes));
  if (s.phase === 'failed') sandbox.send({ type: 'notify', message: s.message ?? 'Generation failed', error: true });
}

function renderRun(): void {
  const s = state.runStatus;
  $('run').hidden = s === null;
  if (s) {
    const frac = s.phase === 'done' ? 1 : s.total ? (s.step ?? 0) / s.total : 0;
    $('progress-bar').style.width = `${Math.round(frac * 100)}%`;
    const eta = s.phase === 'running' && s.etaMs !== undefined && s.etaMs > 0 ? ` · ${Math.ceil(s.etaMs / 1000)} s left` : '';
    $('run-text').textContent = `${s.message ?? s.phase}${eta}`;
    $('run-line').classList.toggle('error', s.phase === 'failed');
    $('cancel').hidden = isFinished(s);
    document.body.dataset.run = s.phase; // a hook for tests and styling
  }
  renderGenerateButton();
}

function previewCanvas(index: number): HTMLCanvasElement {
  const box = $('previews');
  let c = box.children[index] as HTMLCanvasElement | undefined;
  if (!c) {
    c = document.createElement('canvas');
    box.append(c);
  }
  return c;
}

function drawPreview(p: { width: number; height: number; data: Uint8Array }): void {
  const c = previewCanvas(0);
  c.width = p.width;
  c.height = p.height;
  const img = new ImageData(new Uint8ClampedArray(p.data), p.width, p.height);
  c.getContext('2d')!.putImageData(img, 0, 0);
}

/** Result thumbnails, decoded from the PNG bytes with a canvas (no blob: URLs for Figma's CSP to refuse). */
async function drawResults(pngs: Uint8Array[]): Promise<void> {
  $('previews').replaceChildren();
  for (let i = 0; i < Math.min(pngs.length, 4); i++) {
    const bytes = pngs[i];
    const bmp = await createImageBitmap(new Blob([bytes.slice()], { type: 'image/png' }));
    const c = previewCanvas(i);
    c.width = bmp.width;
    c.height = bmp.height;
    c.getContext('2d')!.drawImage(bmp, 0, 0);
    c.title = `${bmp.width}×${bmp.height}`;
  }
}

// ---------------------------------------------------------------- wiring

function onSandbox(m: SandboxMessage): void {
  switch (m.type) {
    case 'init':
      state.ready = true;
      state.connection = m.connection;
      state.settings = m.settings;
      state.placement = m.placement;
      state.selection = m.selection;
      state.roles = m.roles;
      store.seed(PENDING_KEY, m.pending);
      $<HTMLInputElement>('token').value = m.connection.token;
      $<HTMLInputElement>('port').value = String(m.connection.port);
      writeForm(m.settings);
      renderSelection();
      renderRoles();
      renderOutputs();
      showConnectionPanel(!m.connection.token);
      conn.configure(m.connection.token ? { token: m.connection.token, port: m.connection.port } : null);
      renderConnection();
      return;
    case 'selection':
      state.selection = m.selection;
      renderSelection();
      return;
    case 'roles':
      state.roles = m.roles;
      renderRoles();
      renderOutputs();
      return;
    default:
      return;
  }
}

function title(type: string): string {
  return type.charAt(0) + type.slice(1).toLowerCase().replace(/_/g, ' ');
}

function wire(): void {
  fillSelect('sampler', SAMPLERS);
  fillSelect('adapter', ADAPTER_KINDS);
  fillSelect('preset', BLOCK_PRESETS);
  for (const id of ['prompt', 'negativePrompt', 'strength', 'referenceScale', 'controlScale', 'steps', 'seed', 'guidance']) $(id).addEventListener('input', onFormChange);
  for (const id of ['useInit', 'variations', 'controlType', 'sampler', 'adapter', 'preset']) $(id).addEventListener('change', onFormChange);
  for (const b of document.querySelectorAll<HTMLButtonElement>('#placement button')) {
    b.addEventListener('click', () => {
      state.placement = b.dataset.v === 'beside' ? 'beside' : 'fill';
      renderPlacement();
      onFormChange();
    });
  }
  $('toggle-settings').addEventListener('click', () => showConnectionPanel($('connection').hidden));
  $('connect').addEventListener('click', connectWithForm);
  $('token').addEventListener('keydown', (ev) => {
    if ((ev as KeyboardEvent).key === 'Enter') connectWithForm();
  });
  $('retry').addEventListener('click', () => conn.retryNow());
  $('mark-reference').addEventListener('click', () => markSelection('reference'));
  $('mark-control').addEventListener('click', () => markSelection('control'));
  $('generate').addEventListener('click', () => startRun('generate'));
  $('regenerate').addEventListener('click', () => startRun('regenerate'));
  $('variation').addEventListener('click', () => startRun('variation'));
  $('cancel').addEventListener('click', () => state.run?.cancel());
  conn.subscribe(() => renderConnection());
  window.setInterval(renderRetryCountdown, 500);
  sandbox.on(onSandbox);
  renderConnection();
  renderRoles();
  sandbox.send({ type: 'ready' });
}

wire();
