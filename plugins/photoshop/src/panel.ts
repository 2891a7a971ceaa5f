/**
 * Mounts the panel on index.html: builds the view context and hands it to one module per job —
 * panel-status.ts (the connection line), panel-form.ts (settings), panel-job.ts (run, notice, results),
 * panel-live.ts (speed presets, live mode).
 */
import type { BridgeConnection } from '../../../shared/plugin/connection.ts';
import type { PanelController } from './controller.ts';
import type { PsHost } from './host.ts';
import { renderForm, wireForm } from './panel-form.ts';
import { renderJob, renderNotice, renderResults, wireActions } from './panel-job.ts';
import { PsLiveMode } from './live.ts';
import { mountLive } from './panel-live.ts';
import { renderStatus } from './panel-status.ts';
import { formKit, panelElements, type PanelView } from './panel-view.ts';

export interface PanelDeps {
  root: Document;
  host: PsHost;
  controller: PanelController;
  connection: BridgeConnection;
  /** Saves the token and port and reconnects. */
  connect(token: string | null, port: number): Promise<void>;
  hasToken(): boolean;
}

/** The connection box: open/close, and Connect with a pasted token. */
function wireConnection(v: PanelView, d: PanelDeps, render: () => void): void {
  const { el, conn } = v;
  const { num } = v.kit;
  el.connToggle.addEventListener('click', () => {
    v.state.connOpen = !v.state.connOpen;
    render();
  });
  el.connect.addEventListener('click', () => {
    const token = String(el.token.value).trim();
    el.token.value = '';
    void d.connect(token || null, Math.round(num(el.port, conn.port)));
    v.state.connOpen = false;
    render();
  });
  el.token.addEventListener('keydown', (ev) => {
    if ((ev as KeyboardEvent).key === 'Enter') el.connect.click();
  });
}

export function mountPanel(d: PanelDeps): { render(): void; refreshLayers(): void } {
  const doc = d.root;
  const v: PanelView = {
    doc, el: panelElements(doc), kit: formKit(doc), ctl: d.controller, conn: d.connection,
    state: { connOpen: false, layers: [], renderedResults: '' },
  };
  const { ctl, conn } = v;
  wireConnection(v, d, () => render());
  wireForm(v);
  wireActions(v);
  const live = mountLive(v, new PsLiveMode(ctl, d.host, conn));

  function render(): void {
    renderStatus(v, d.hasToken);
    renderNotice(v);
    renderForm(v);
    renderJob(v);
    renderResults(v);
    live.render();
  }

  function refreshLayers(): void {
    const active = d.host.activeDocument();
    v.state.layers = active ? d.host.layers(active.id) : [];
    v.state.channels = active ? d.host.alphaChannels(active.id) : [];
    renderForm(v);
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
    if (conn.state.phase === 'waiting') renderStatus(v, d.hasToken);
  }, 1000);
  refreshLayers();
  render();
  return { render, refreshLayers };
}
