/**
 * The UI's state and the view context every part of it shares: the element lookup, what the UI knows
 * (settings, selection, roles, the run), and the ports (sandbox link, daemon connection, pending jobs).
 */
import type { BridgeConnection } from '../../../shared/plugin/connection.ts';
import type { PendingJobs, KeyValueStore } from '../../../shared/plugin/pending-jobs.ts';
import type { ConnectionSettings, GenerationSettings } from '../../../shared/plugin/settings.ts';
import type { Placement, RoleEntry, SelectionInfo } from './messages.ts';
import type { SandboxLink } from './ui-host.ts';
import type { GenerationRun, RunStatus } from './ui-run.ts';

export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`ui.html lacks #${id}`);
  return el as T;
};

export interface UiState {
  ready: boolean;
  connection: ConnectionSettings;
  settings: GenerationSettings;
  placement: Placement;
  selection: SelectionInfo;
  roles: RoleEntry[];
  run: GenerationRun | null;
  runStatus: RunStatus | null;
}

/** The pending-jobs store, which the sandbox's init message seeds (see ui.ts). */
export type SeededStore = KeyValueStore & { seed(key: string, value: string | null): void };

export interface UiView {
  readonly state: UiState;
  readonly sandbox: SandboxLink;
  readonly conn: BridgeConnection;
  readonly pending: PendingJobs;
  readonly store: SeededStore;
}
