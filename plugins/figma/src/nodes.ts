/** Reading the document: what is selected, which nodes carry roles, and node geometry. */
import { MAX_CONTROLS, MAX_REFERENCES } from '../../../shared/protocol/limits.ts';
import type { NodeSummary, Role, RoleEntry, SelectionInfo, TargetSummary } from './messages.ts';
import { KEY_REGION_FOR, KEY_ROLE, readRecord, readRole, readRoleIndex, writeRoleIndex } from './store.ts';

/** The subset of the plugin API the sandbox uses (tests pass a fake with these members). */
export type FigmaApi = Pick<PluginAPI,
  'showUI' | 'ui' | 'on' | 'currentPage' | 'root' | 'clientStorage' | 'getNodeByIdAsync' | 'createImage' |
  'createRectangle' | 'commitUndo' | 'notify' | 'viewport' | 'mixed' | 'setCurrentPageAsync'>;

export type ExportableNode = SceneNode & ExportMixin;
export type FillableNode = SceneNode & MinimalFillsMixin & ExportMixin;

const FILL_TYPES: ReadonlySet<string> = new Set(['FRAME', 'RECTANGLE', 'ELLIPSE', 'POLYGON', 'STAR', 'VECTOR', 'COMPONENT', 'INSTANCE']);

export function isExportable(node: BaseNode): node is ExportableNode {
  return node.type !== 'DOCUMENT' && node.type !== 'PAGE' && 'exportAsync' in node;
}

export function canFill(node: BaseNode, mixed: symbol): node is FillableNode {
  return FILL_TYPES.has(node.type) && 'fills' in node && (node as MinimalFillsMixin).fills !== mixed && isExportable(node);
}

export function summary(node: SceneNode): NodeSummary {
  return { id: node.id, name: node.name, type: node.type, width: round2(node.width), height: round2(node.height) };
}

/** Absolute canvas bounds (the node may sit inside frames); results go on the page at these coordinates. */
export function absoluteRect(node: SceneNode): Rect {
  const b = node.absoluteBoundingBox;
  return b ? { x: b.x, y: b.y, width: b.width, height: b.height } : { x: node.x, y: node.y, width: node.width, height: node.height };
}

export function describeSelection(api: FigmaApi): SelectionInfo {
  const sel = api.currentPage.selection;
  if (sel.length === 0) return { target: null, count: 0, hint: 'Select a frame or shape to generate into.' };
  if (sel.length > 1) return { target: null, count: sel.length, hint: `${sel.length} nodes selected: select one frame or shape as the target.` };
  const node = sel[0] as BaseNode; // widened: the typings call every SceneNode exportable, a host may disagree
  if (!isExportable(node)) return { target: null, count: 1, hint: `A ${node.type.toLowerCase()} cannot be exported: select a frame or shape.` };
  const target: TargetSummary = { ...summary(node), canFill: canFill(node, api.mixed), role: readRole(node), record: readRecord(node) };
  return { target, count: 1, hint: null };
}

/** Role nodes from the index, each checked against its own plugin data; stale ids are dropped from the index. */
export async function listRoles(api: FigmaApi): Promise<Array<RoleEntry & { node: ExportableNode }>> {
  const ids = readRoleIndex(api.root);
  const out: Array<RoleEntry & { node: ExportableNode }> = [];
  const keep: string[] = [];
  for (const id of ids) {
    const node = await api.getNodeByIdAsync(id);
    if (!node || node.removed || !isExportable(node)) continue;
    const role = readRole(node);
    if (!role) continue;
    keep.push(id);
    out.push({ ...summary(node), role, node });
  }
  if (keep.length !== ids.length) writeRoleIndex(api.root, keep);
  // Regions name their reference; one whose reference lost its role acts nowhere and is left out.
  const refs = new Map(out.filter((e) => e.role === 'reference').map((e) => [e.id, e.name]));
  const listed = out.filter((e) => {
    if (e.role !== 'region') return true;
    const forId = e.node.getPluginData(KEY_REGION_FOR);
    const name = refs.get(forId);
    if (name !== undefined) e.regionFor = { id: forId, name };
    return name !== undefined;
  });
  const order: Record<Role, number> = { reference: 0, region: 1, control: 2 };
  listed.sort((a, b) => (a.role === b.role ? a.name.localeCompare(b.name) : order[a.role] - order[b.role]));
  return listed;
}

export async function roleEntries(api: FigmaApi): Promise<RoleEntry[]> {
  return (await listRoles(api)).map(({ node: _node, ...e }) => e);
}

/** Marks the selection with `role` (null clears it). Returns how many nodes changed. */
export function setRoleOnSelection(api: FigmaApi, role: Role | null): number {
  const nodes = api.currentPage.selection.filter(isExportable);
  const ids = readRoleIndex(api.root);
  for (const n of nodes) {
    n.setPluginData(KEY_ROLE, role ?? '');
    if (role) ids.push(n.id);
  }
  writeRoleIndex(api.root, role ? ids : ids.filter((id) => !nodes.some((n) => n.id === id)));
  return nodes.length;
}

/**
 * "Mark as region": of two selected nodes, one a style reference, the other becomes its region — where
 * on the target that reference acts. Returns what the user must do instead, or null when marked.
 */
export function markRegion(api: FigmaApi): string | null {
  const nodes = api.currentPage.selection.filter(isExportable);
  const refs = nodes.filter((n) => readRole(n) === 'reference');
  if (nodes.length !== 2 || refs.length !== 1) return 'Select a style node and the shape for its region together (Shift-click), then Mark as region.';
  const shape = nodes.find((n) => n !== refs[0])!;
  shape.setPluginData(KEY_ROLE, 'region');
  shape.setPluginData(KEY_REGION_FOR, refs[0].id);
  writeRoleIndex(api.root, [...readRoleIndex(api.root), shape.id]);
  return null;
}

export async function clearRole(api: FigmaApi, nodeId: string): Promise<void> {
  const node = await api.getNodeByIdAsync(nodeId);
  if (node && !node.removed) node.setPluginData(KEY_ROLE, '');
  writeRoleIndex(api.root, readRoleIndex(api.root).filter((id) => id !== nodeId));
}

/** The page a node is on (role nodes may sit on other pages). */
export function pageOf(node: BaseNode): PageNode | null {
  for (let n: BaseNode | null = node; n; n = n.parent) if (n.type === 'PAGE') return n;
  return null;
}

/** How many of each role a job may carry (the protocol's limits). */
export const ROLE_LIMITS: Readonly<Record<Role, number>> = { reference: MAX_REFERENCES, control: MAX_CONTROLS, region: MAX_REFERENCES };

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
