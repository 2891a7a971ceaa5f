/**
 * Panel entry (dist/photoshop/index.js): wires the UXP host, the bridge connection (token from secure
 * storage, automatic reconnect), the controller and the panel markup. `photoshop` and `uxp` come from
 * UXP's require(); a test page provides its own `require` with in-memory fakes.
 */
import { BridgeConnection, targetFor } from '../../../shared/plugin/connection.ts';
import { parseConnection, parseStudioUrl, type ConnectionSettings } from '../../../shared/plugin/settings.ts';
import { createUxpHost } from './host.ts';
import { PanelController } from './controller.ts';
import { mountPanel } from './panel.ts';
import type { PsModule, UxpModule } from './uxp-api.ts';

export const PLUGIN_VERSION = '0.1.0';
const TOKEN_KEY = 'ipa.bridge.token';
const CONNECTION_KEY = 'ipa.bridge.connection';
const CLIENT_ID_KEY = 'ipa.bridge.clientId';
/** The manifest allows exactly ws://127.0.0.1:PORT and ws://localhost:PORT. */
const DAEMON_HOST = '127.0.0.1';

const ps = require('photoshop') as PsModule;
const uxp = require('uxp') as UxpModule;
const host = createUxpHost(ps, uxp);

function clientId(): string {
  const known = host.load(CLIENT_ID_KEY);
  if (known) return known;
  const id = `ps-${Math.random().toString(36).slice(2, 10)}${Date.now().toString(36)}`;
  host.save(CLIENT_ID_KEY, id);
  return id;
}

/** Port, Server setting (studio URL, empty = this computer) and the studio's pinned fingerprint; the token is in secure storage. */
function savedConnection(): ConnectionSettings {
  try {
    return parseConnection({ ...(JSON.parse(host.load(CONNECTION_KEY) ?? '{}') as object), token: '' });
  } catch {
    return parseConnection({});
  }
}

function saveConnection(c: ConnectionSettings): void {
  host.save(CONNECTION_KEY, JSON.stringify({ port: c.port, server: c.server, studioUrl: c.studioUrl, pinnedFingerprint: c.pinnedFingerprint }));
}

/** The Server field: a studio URL (wss://host:port; the manifest must list it: npm run build -- --team-host), or empty for this computer. */
function studioField(): { value: string } | null {
  return document.getElementById('studio') as unknown as { value: string } | null;
}

const connection = new BridgeConnection({
  openSocket: (url) => host.openSocket(url),
  probe: (url) => host.probe(url),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  random: Math.random,
  now: Date.now,
  client: { name: 'ipa-photoshop', version: PLUGIN_VERSION, id: clientId() },
  // First connection to a studio server: keep its certificate fingerprint (a changed one is refused later).
  pin: (url, fingerprint) => {
    const c = savedConnection();
    if (c.studioUrl === url) saveConnection({ ...c, pinnedFingerprint: fingerprint });
  },
});
const controller = new PanelController({ host, connection });
let tokenSaved = false;

async function connect(token: string | null, port: number): Promise<void> {
  if (token) {
    await host.saveSecret(TOKEN_KEY, token);
    tokenSaved = true;
  }
  const prev = savedConnection();
  const studioUrl = parseStudioUrl(studioField()?.value ?? '') ?? undefined;
  // A new studio URL is a new first connection: its pin starts empty.
  const c = parseConnection({ port, server: studioUrl ? 'studio' : 'local', studioUrl, pinnedFingerprint: studioUrl === prev.studioUrl ? prev.pinnedFingerprint : undefined });
  saveConnection(c);
  const t = token ?? (await host.loadSecret(TOKEN_KEY));
  connection.configure(t ? targetFor({ ...c, token: t }, DAEMON_HOST) : null);
}

async function forgetToken(): Promise<void> {
  await host.saveSecret(TOKEN_KEY, null);
  tokenSaved = false;
  connection.configure(null);
}

// Jobs a previous panel session left running come back once connected.
connection.subscribe((state) => {
  if (state.phase === 'connected') void controller.resumePending();
});

uxp.entrypoints?.setup({
  panels: {
    ipaPanel: {
      show() {},
      menuItems: [
        { id: 'reconnect', label: 'Reconnect now' },
        { id: 'forget', label: 'Forget pairing token' },
      ],
      invokeMenu(id: string) {
        if (id === 'reconnect') connection.retryNow();
        if (id === 'forget') void forgetToken();
      },
    },
  },
});

function start(): void {
  mountPanel({ root: document, host, controller, connection, connect, hasToken: () => tokenSaved });
  const saved = savedConnection();
  const field = studioField();
  if (field && saved.server === 'studio' && saved.studioUrl) field.value = saved.studioUrl;
  void host.loadSecret(TOKEN_KEY).then((token) => {
    tokenSaved = !!token;
    connection.configure(token ? targetFor({ ...saved, token }, DAEMON_HOST) : null);
  });
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
