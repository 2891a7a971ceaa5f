/** The connection line: state, what the daemon runs on, what its models lack, how to fix a problem, and the token form. */
import { problemHelp, type ConnectionState } from '../../../shared/plugin/reconnect.ts';
import { targetFor } from '../../../shared/plugin/connection.ts';
import { parseConnection, parseStudioUrl, type ConnectionSettings } from '../../../shared/plugin/settings.ts';
import { renderGenerateButton } from './ui-job.ts';
import { $, type UiView } from './ui-view.ts';

export function renderConnection(v: UiView): void {
  const { state, conn } = v;
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
  } else if (s.phase === 'connecting') text.textContent = `Connecting to ${v.state.connection.server === 'studio' ? v.state.connection.studioUrl : `localhost:${port}`}…`;
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
  renderRetryCountdown(v);
  if (s.phase === 'stopped' && s.problem.code === 'refused') showConnectionPanel(v, true);
  renderGenerateButton(v);
}

export function renderRetryCountdown(v: UiView): void {
  const { conn } = v;
  const s = conn.state;
  const el = $('problem-retry');
  if (s.phase === 'waiting' && conn.retryAt !== null) {
    const secs = Math.max(0, Math.ceil((conn.retryAt - Date.now()) / 1000));
    el.textContent = secs > 0 ? `Retrying in ${secs} s…` : 'Retrying…';
  } else el.textContent = s.phase === 'stopped' ? 'Not retrying until you fix this.' : '';
}

export function showConnectionPanel(v: UiView, show: boolean): void {
  $('connection').hidden = !show;
  $('toggle-settings').setAttribute('aria-pressed', String(show));
  if (show && !v.state.connection.token) $('token').focus();
}

export function connectWithForm(v: UiView): void {
  const prev = v.state.connection;
  if ($<HTMLSelectElement>('server').value === 'studio' && !parseStudioUrl($<HTMLInputElement>('studio-url').value)) {
    $('fingerprint').hidden = false;
    $('fingerprint').textContent = 'The studio URL must look like wss://studio.example.com:41873 (ask the studio admin).';
    return;
  }
  const connection = parseConnection({
    token: $<HTMLInputElement>('token').value, port: Number($<HTMLInputElement>('port').value),
    server: $<HTMLSelectElement>('server').value, studioUrl: $<HTMLInputElement>('studio-url').value,
    // The pin belongs to the studio URL it was made for: a new URL is a new first connection.
    pinnedFingerprint: parseStudioUrl($<HTMLInputElement>('studio-url').value) === prev.studioUrl ? prev.pinnedFingerprint : undefined,
  });
  v.state.connection = connection;
  v.sandbox.send({ type: 'save-connection', connection });
  v.conn.configure(targetFor(connection));
  renderServerForm(connection);
  if (connection.token) showConnectionPanel(v, false);
}

/** The Server setting: the studio URL row for a studio, the port row for this computer, and the pinned fingerprint. */
export function renderServerForm(c: ConnectionSettings): void {
  const studio = $<HTMLSelectElement>('server').value === 'studio';
  $('studio-row').hidden = !studio;
  $('port-row').hidden = studio;
  $('fingerprint').hidden = !(studio && c.pinnedFingerprint);
  $('fingerprint').textContent = c.pinnedFingerprint ? `Server certificate pinned: ${c.pinnedFingerprint} (compare with: npx ipa-bridge team fingerprint)` : '';
}
