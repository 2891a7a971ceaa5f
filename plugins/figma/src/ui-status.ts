/** The connection line: state, what the daemon runs on, what its models lack, how to fix a problem, and the token form. */
import { problemHelp, type ConnectionState } from '../../../shared/plugin/reconnect.ts';
import { parseConnection } from '../../../shared/plugin/settings.ts';
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
  const connection = parseConnection({ token: $<HTMLInputElement>('token').value, port: Number($<HTMLInputElement>('port').value) });
  v.state.connection = connection;
  v.sandbox.send({ type: 'save-connection', connection });
  v.conn.configure(connection.token ? { token: connection.token, port: connection.port } : null);
  if (connection.token) showConnectionPanel(v, false);
}
