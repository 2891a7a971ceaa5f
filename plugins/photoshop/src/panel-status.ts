/** The connection line: state, what the daemon runs on, what its models lack, and how to fix a problem. */
import { problemHelp } from '../../../shared/plugin/reconnect.ts';
import type { PanelView } from './panel-view.ts';

export function renderStatus(v: PanelView, hasToken: () => boolean): void {
  const { el, conn } = v;
  const { show, setValue } = v.kit;
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
            ? `${welcome!.server.name} ${welcome!.server.version} · ${caps.provider.toUpperCase()}${caps.device ? ` (${caps.device}${caps.fp16 ? ', fp16' : ''})` : ''} · ${caps.models.length} model${caps.models.length === 1 ? '' : 's'}`
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
    show(el.connBox, v.state.connOpen || needsUser);
    el.token.setAttribute('placeholder', hasToken() ? 'saved — paste to replace' : 'paste the pairing token');
    setValue(el.port, String(conn.port));
}
