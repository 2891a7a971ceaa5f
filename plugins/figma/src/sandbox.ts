/**
 * The sandbox side (host glue): opens the UI, answers its messages with document work, and keeps it told
 * about the selection and the role nodes. Everything arrives through `figma` passed in, so tests run this
 * against a fake.
 */
import { parseConnection, parseSettings } from '../../../shared/plugin/settings.ts';
import { exportForJob, PluginError } from './exporting.ts';
import type { Placement, SandboxMessage, UiMessage } from './messages.ts';
import { clearRole, describeSelection, markRegion, pageOf, roleEntries, setRoleOnSelection, type FigmaApi } from './nodes.ts';
import { liveWatch } from './live-watch.ts';
import { insertResults } from './placing.ts';
import { STORAGE_CONNECTION, STORAGE_PENDING, STORAGE_SETTINGS } from './store.ts';

export const UI_SIZE = { width: 320, height: 640 } as const;

export interface SandboxHandle {
  /** Handles one UI message (what `figma.ui.onmessage` calls); resolves when its reply was posted. */
  handle(msg: UiMessage): Promise<void>;
}

export function startSandbox(api: FigmaApi, html: string): SandboxHandle {
  api.showUI(html, { ...UI_SIZE, themeColors: true, title: 'ipa-bridge' });
  const post = (m: SandboxMessage): void => api.ui.postMessage(m);
  const pushRoles = async (): Promise<void> => post({ type: 'roles', roles: await roleEntries(api) });

  api.on('selectionchange', () => {
    post({ type: 'selection', selection: describeSelection(api) });
    void pushRoles(); // names may have changed, nodes may be gone
  });

  const handle = async (msg: UiMessage): Promise<void> => {
    switch (msg.type) {
      case 'ready': {
        const stored = (await api.clientStorage.getAsync(STORAGE_SETTINGS)) as { settings?: unknown; placement?: unknown } | undefined;
        post({
          type: 'init',
          connection: parseConnection(await api.clientStorage.getAsync(STORAGE_CONNECTION)),
          settings: parseSettings(stored?.settings),
          placement: parsePlacement(stored?.placement),
          selection: describeSelection(api),
          roles: await roleEntries(api),
          pending: parsePending(await api.clientStorage.getAsync(STORAGE_PENDING)),
        });
        return;
      }
      case 'save-connection':
        return api.clientStorage.setAsync(STORAGE_CONNECTION, parseConnection(msg.connection));
      case 'save-settings':
        return api.clientStorage.setAsync(STORAGE_SETTINGS, { settings: parseSettings(msg.settings), placement: parsePlacement(msg.placement) });
      case 'save-pending':
        return api.clientStorage.setAsync(STORAGE_PENDING, msg.value ?? '');
      case 'set-role': {
        if (msg.role === 'region') {
          const problem = markRegion(api);
          if (problem) api.notify(problem);
        } else if (setRoleOnSelection(api, msg.role) === 0) api.notify('Select the nodes to mark first.');
        post({ type: 'selection', selection: describeSelection(api) });
        return pushRoles();
      }
      case 'clear-role':
        await clearRole(api, msg.nodeId);
        post({ type: 'selection', selection: describeSelection(api) });
        return pushRoles();
      case 'reveal': {
        const node = await api.getNodeByIdAsync(msg.nodeId);
        if (!node || node.removed || node.type === 'PAGE' || node.type === 'DOCUMENT') return;
        const page = pageOf(node);
        if (page && page.id !== api.currentPage.id) await api.setCurrentPageAsync(page);
        api.viewport.scrollAndZoomIntoView([node]);
        return;
      }
      case 'export':
        try {
          post({ type: 'exported', requestId: msg.requestId, ...(await exportForJob(api, msg.intent, msg.wantInit, msg.budget, msg.targetId)) });
        } catch (e) {
          post({ type: 'failed', requestId: msg.requestId, message: errorText(e) });
        }
        return;
      case 'insert':
        try {
          const nodes = await insertResults(api, msg.targetId, msg.placement, msg.images);
          post({ type: 'inserted', requestId: msg.requestId, nodeIds: nodes.map((n) => n.id) });
          post({ type: 'selection', selection: describeSelection(api) });
        } catch (e) {
          post({ type: 'failed', requestId: msg.requestId, message: errorText(e) });
        }
        return;
      case 'notify':
        api.notify(msg.message, { error: msg.error });
        return;
      case 'watch':
        return watch.set(msg.nodeId);
    }
  };
  const watch = liveWatch(api, post);

  api.ui.onmessage = (msg: unknown) => {
    if (typeof msg === 'object' && msg !== null && typeof (msg as { type?: unknown }).type === 'string') void handle(msg as UiMessage);
  };
  return { handle };
}

function parsePending(v: unknown): string | null {
  return typeof v === 'string' && v ? v : null;
}

function parsePlacement(v: unknown): Placement {
  return v === 'beside' ? 'beside' : 'fill';
}

function errorText(e: unknown): string {
  if (e instanceof PluginError) return e.message;
  return `Figma refused: ${e instanceof Error ? e.message : String(e)}`;
}
