/** Plugin data keys and typed access to what this plugin keeps on nodes and on the document. */
import { parseRecord, type GenerationRecord } from '../../../shared/plugin/record.ts';
import type { Role } from './messages.ts';
import { parsePaintState, type PaintState } from './paints.ts';

export const KEY_ROLE = 'ipa.role';
/** On region nodes: the id of the style reference node whose region they are. */
export const KEY_REGION_FOR = 'ipa.regionFor';
export const KEY_RECORD = 'ipa.generation';
export const KEY_PAINT = 'ipa.paint';
/** On "beside" results: the node they were generated from (its pixels are the init for regenerate). */
export const KEY_SOURCE = 'ipa.source';
/** On the document root: ids of nodes that carry a role, so finding them needs no tree walk. */
export const KEY_ROLE_INDEX = 'ipa.roles';

export const STORAGE_CONNECTION = 'ipa-bridge.connection';
export const STORAGE_SETTINGS = 'ipa-bridge.settings';
/** The UI's pending jobs (shared/plugin/pending-jobs.ts), as JSON text. */
export const STORAGE_PENDING = 'ipa-bridge.pending';
/** The key the UI's store port uses for them. */
export const PENDING_KEY = 'pending';

type DataNode = Pick<BaseNode, 'getPluginData' | 'setPluginData'>;

export function readRole(node: DataNode): Role | null {
  const v = node.getPluginData(KEY_ROLE);
  return v === 'reference' || v === 'control' || v === 'region' ? v : null;
}

export function readRecord(node: DataNode): GenerationRecord | null {
  const raw = node.getPluginData(KEY_RECORD);
  if (!raw) return null;
  try {
    return parseRecord(JSON.parse(raw));
  } catch {
    return null;
  }
}

export function readPaintState(node: DataNode): PaintState | null {
  return parsePaintState(node.getPluginData(KEY_PAINT));
}

export function readRoleIndex(root: DataNode): string[] {
  try {
    const v: unknown = JSON.parse(root.getPluginData(KEY_ROLE_INDEX) || '[]');
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

export function writeRoleIndex(root: DataNode, ids: readonly string[]): void {
  root.setPluginData(KEY_ROLE_INDEX, JSON.stringify([...new Set(ids)]));
}
