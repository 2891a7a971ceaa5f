/**
 * The UI iframe (bundled and inlined into dist/figma/ui.html). Holds the WebSocket to the daemon (the
 * sandbox has none), the settings form and the run display; document work is asked of the sandbox.
 * This file makes the ports and the state, answers the sandbox and wires the controls; the rest is one
 * module per job: ui-status.ts (the connection line), ui-form.ts (selection, roles, settings),
 * ui-job.ts (the run), over the shared view context in ui-view.ts.
 */
import pkg from '../../../package.json';
import { BridgeConnection, targetFor } from '../../../shared/plugin/connection.ts';
import { PendingJobs } from '../../../shared/plugin/pending-jobs.ts';
import { DEFAULT_CONNECTION, DEFAULT_SETTINGS } from '../../../shared/plugin/settings.ts';
import { ADAPTER_KINDS, BLOCK_PRESETS, SAMPLERS } from '../../../shared/protocol/messages.ts';
import type { SandboxMessage } from './messages.ts';
import { PENDING_KEY } from './store.ts';
import { fillSelect, markSelection, onFormChange, renderOutputs, renderPlacement, renderRoles, renderSelection, writeForm } from './ui-form.ts';
import { SandboxLink } from './ui-host.ts';
import { startRun } from './ui-job.ts';
import { mountLive, type FigmaLive } from './ui-live.ts';
import { mountFamily, type FamilyPicker } from './ui-family.ts';
import { connectWithForm, renderConnection, renderRetryCountdown, renderServerForm, showConnectionPanel } from './ui-status.ts';
import { $, type SeededStore, type UiState, type UiView } from './ui-view.ts';

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
function sandboxStore(): SeededStore {
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
  // First connection to a studio server: keep its certificate fingerprint (a changed one is refused later).
  pin: (url, fingerprint) => {
    if (state.connection.studioUrl !== url) return;
    state.connection = { ...state.connection, pinnedFingerprint: fingerprint };
    sandbox.send({ type: 'save-connection', connection: state.connection });
    renderServerForm(state.connection);
  },
});
const view: UiView = { state, sandbox, conn, pending, store };

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
      $<HTMLSelectElement>('server').value = m.connection.server ?? 'local';
      $<HTMLInputElement>('studio-url').value = m.connection.studioUrl ?? '';
      renderServerForm(m.connection);
      writeForm(view, m.settings);
      family?.render();
      renderSelection(view);
      renderRoles(view);
      renderOutputs(view);
      showConnectionPanel(view, !m.connection.token);
      conn.configure(targetFor(m.connection));
      renderConnection(view);
      live?.render();
      return;
    case 'selection':
      state.selection = m.selection;
      renderSelection(view);
      return;
    case 'roles':
      state.roles = m.roles;
      renderRoles(view);
      renderOutputs(view);
      return;
    case 'edited':
      live?.edited(m.nodeId);
      return;
    default:
      return;
  }
}

/** Live mode and the speed presets (ui-live.ts); mounted with the other controls in wire(). */
let live: FigmaLive | null = null;
/** The model picker and family line (ui-family.ts). */
let family: FamilyPicker | null = null;

function wire(): void {
  live = mountLive(view, () => {
    sandbox.send({ type: 'save-settings', settings: state.settings, placement: state.placement });
    family?.render(); // a speed preset may have chosen another checkpoint
  });
  fillSelect('sampler', SAMPLERS);
  fillSelect('adapter', ADAPTER_KINDS);
  fillSelect('preset', BLOCK_PRESETS);
  const changed = () => onFormChange(view);
  for (const id of ['prompt', 'negativePrompt', 'strength', 'referenceScale', 'controlScale', 'steps', 'seed', 'guidance']) $(id).addEventListener('input', changed);
  for (const id of ['useInit', 'variations', 'controlType', 'sampler', 'adapter', 'preset']) $(id).addEventListener('change', changed);
  for (const b of document.querySelectorAll<HTMLButtonElement>('#placement button')) {
    b.addEventListener('click', () => {
      state.placement = b.dataset.v === 'beside' ? 'beside' : 'fill';
      renderPlacement(view);
      onFormChange(view);
    });
  }
  $('toggle-settings').addEventListener('click', () => showConnectionPanel(view, $('connection').hidden));
  $('connect').addEventListener('click', () => connectWithForm(view));
  $('server').addEventListener('change', () => renderServerForm(state.connection));
  $('token').addEventListener('keydown', (ev) => {
    if ((ev as KeyboardEvent).key === 'Enter') connectWithForm(view);
  });
  $('retry').addEventListener('click', () => conn.retryNow());
  $('mark-reference').addEventListener('click', () => markSelection(view, 'reference'));
  $('mark-control').addEventListener('click', () => markSelection(view, 'control'));
  $('mark-region').addEventListener('click', () => sandbox.send({ type: 'set-role', role: 'region' }));
  family = mountFamily(view, () => {
    writeForm(view, state.settings);
    sandbox.send({ type: 'save-settings', settings: state.settings, placement: state.placement });
  });
  $('generate').addEventListener('click', () => startRun(view, 'generate'));
  $('regenerate').addEventListener('click', () => startRun(view, 'regenerate'));
  $('variation').addEventListener('click', () => startRun(view, 'variation'));
  $('cancel').addEventListener('click', () => state.run?.cancel());
  conn.subscribe(() => {
    renderConnection(view);
    family?.render();
  });
  window.setInterval(() => renderRetryCountdown(view), 500);
  sandbox.on(onSandbox);
  renderConnection(view);
  renderRoles(view);
  sandbox.send({ type: 'ready' });
}

wire();
