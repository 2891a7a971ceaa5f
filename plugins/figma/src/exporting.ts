/**
 * Exports what a job needs as PNG: the init (the target, or for regenerate/variation the node the result
 * came from) and the role nodes, each at the scale that fills the daemon's pixel budget.
 */
import { exportScale, scaledSize, type ExportBudget } from '../../../shared/plugin/budget.ts';
import type { GenerationRecord } from '../../../shared/plugin/record.ts';
import type { ExportBudgetSpec, ExportedImage, Intent, NodeSummary } from './messages.ts';
import { regionShapeOn, type RegionShape } from '../../../shared/plugin/reference-mask.ts';
import { absoluteRect, canFill, isExportable, listRoles, ROLE_LIMITS, summary, type ExportableNode, type FigmaApi } from './nodes.ts';
import { withoutGeneratedImage } from './paints.ts';
import { KEY_SOURCE, readPaintState, readRecord } from './store.ts';

export class PluginError extends Error {}

export interface ExportResult {
  target: NodeSummary;
  init: ExportedImage | null;
  references: ExportedImage[];
  /** Per reference: its region's shape on the exported image (the init's node), or null. */
  regions: Array<(RegionShape & { name: string }) | null>;
  controls: ExportedImage[];
  record: GenerationRecord | null;
}

export async function exportForJob(api: FigmaApi, intent: Intent, wantInit: boolean, spec: ExportBudgetSpec, targetId?: string): Promise<ExportResult> {
  const chosen = targetId !== undefined ? await api.getNodeByIdAsync(targetId) : null;
  if (targetId !== undefined && (!chosen || chosen.removed || !isExportable(chosen))) throw new PluginError('The live frame was deleted: select a frame and turn Live on again.');
  const sel = chosen ? [chosen] : api.currentPage.selection;
  if (sel.length !== 1 || !isExportable(sel[0])) throw new PluginError('Select one frame or shape first.');
  const target = sel[0];
  let record: GenerationRecord | null = null;
  let source: ExportableNode = target;
  if (intent !== 'generate') {
    record = readRecord(target);
    if (!record) throw new PluginError('The selection is not a generated image: use Generate.');
    // "Beside" results remember their source; filled nodes are their own source (our paint hidden).
    const sourceId = target.getPluginData(KEY_SOURCE);
    if (sourceId) {
      const node = await api.getNodeByIdAsync(sourceId);
      if (node && !node.removed && isExportable(node)) source = node;
      else if (wantInit && record.settings.useInit) throw new PluginError('The node this image was generated from was deleted: select a frame and use Generate.');
    }
  }
  const budget: ExportBudget = { maxPixels: spec.maxPixels, maxSide: spec.maxSide };
  const roles = await listRoles(api);
  const regionNodes = roles.filter((r) => r.role === 'region');
  // A region shape on the frame is exported with it like any child: users hide it (a hidden node keeps
  // its geometry). Hiding it here would be a document change live mode watches and Figma's undo records.
  const init = wantInit ? await exportNode(api, source, budget) : null;
  const refBudget: ExportBudget = { maxPixels: spec.referenceMaxSide * spec.referenceMaxSide, maxSide: spec.referenceMaxSide };
  const references: ExportedImage[] = [];
  const regions: ExportResult['regions'] = [];
  const controls: ExportedImage[] = [];
  const on = absoluteRect(source); // the generated image shows the init's node (the target for text only)
  for (const r of roles) {
    if (r.id === target.id || r.id === source.id) continue; // a node is not its own reference
    if (r.role === 'reference' && references.length < ROLE_LIMITS.reference) {
      references.push(await exportNode(api, r.node, refBudget));
      const region = regionNodes.find((g) => g.regionFor?.id === r.id);
      regions.push(region ? { ...regionShapeOn(absoluteRect(region.node), on, region.node.type === 'ELLIPSE' ? 'ellipse' : 'rect'), name: region.name } : null);
    }
    if (r.role === 'control' && controls.length < ROLE_LIMITS.control) controls.push(await exportNode(api, r.node, budget));
  }
  return { target: summary(target), init, references, regions, controls, record };
}

/** PNG at the budget's scale, in sRGB, of the node as the user made it (a generated fill is left out). */
export async function exportNode(api: FigmaApi, node: ExportableNode, budget: ExportBudget): Promise<ExportedImage> {
  const size = { width: node.width, height: node.height };
  if (size.width < 1 || size.height < 1) throw new PluginError(`"${node.name}" is empty (${size.width}×${size.height}): nothing to export.`);
  const scale = exportScale(size, budget);
  const settings: ExportSettingsImage = { format: 'PNG', constraint: { type: 'SCALE', value: scale }, useAbsoluteBounds: true, colorProfile: 'SRGB' };
  const state = readPaintState(node);
  let bytes: Uint8Array;
  if (state && canFill(node, api.mixed)) {
    const fills = node.fills as readonly Paint[];
    node.fills = withoutGeneratedImage(fills, state);
    try {
      bytes = await node.exportAsync(settings);
    } finally {
      node.fills = fills;
    }
  } else {
    bytes = await node.exportAsync(settings);
  }
  const px = scaledSize(size, scale);
  return { nodeId: node.id, name: node.name, bytes, width: px.width, height: px.height };
}
