/**
 * Inserting results: "fill" puts the first image into the target's fills (old paints kept, hidden) and
 * further variations into clones of the target beside it; "beside" places new rectangles beside the
 * target. Several images form a near-square grid; every generated node keeps its record for regenerate.
 */
import { MAX_IMAGE_SIDE } from '../../../shared/plugin/budget.ts';
import { defaultGap, gridBeside } from '../../../shared/plugin/grid.ts';
import { resultName } from '../../../shared/plugin/naming.ts';
import { PluginError } from './exporting.ts';
import type { Placement, ResultImage } from './messages.ts';
import { absoluteRect, canFill, isExportable, type FigmaApi, type FillableNode } from './nodes.ts';
import { withGeneratedImage } from './paints.ts';
import { KEY_PAINT, KEY_RECORD, KEY_ROLE, KEY_SOURCE, readPaintState } from './store.ts';

export async function insertResults(api: FigmaApi, targetId: string, placement: Placement, images: readonly ResultImage[]): Promise<SceneNode[]> {
  const found = await api.getNodeByIdAsync(targetId);
  if (!found || found.removed || !isExportable(found)) throw new PluginError('The target node was deleted while generating.');
  const target = found;
  for (const img of images) {
    if (img.width > MAX_IMAGE_SIDE || img.height > MAX_IMAGE_SIDE) throw new PluginError(`The result is ${img.width}×${img.height}; Figma images stop at ${MAX_IMAGE_SIDE} px a side.`);
  }
  if (images.length === 0) return [];
  api.commitUndo(); // close earlier plugin actions, so the insertion below is one undo step of its own
  const rect = absoluteRect(target);
  const created: SceneNode[] = [];
  if (placement === 'fill') {
    if (!canFill(target, api.mixed)) throw new PluginError(`"${target.name}" cannot take an image fill: use "Place beside".`);
    fillNode(api, target, images[0]);
    const cells = gridBeside(rect, images.length - 1, rect, { gap: defaultGap(rect) });
    images.slice(1).forEach((img, i) => {
      const copy = target.clone();
      if (!canFill(copy, api.mixed)) throw new PluginError(`A copy of "${target.name}" cannot take an image fill.`);
      api.currentPage.appendChild(copy);
      copy.x = cells[i].x;
      copy.y = cells[i].y;
      copy.name = `${target.name} · seed ${img.record.seed}`;
      copy.setPluginData(KEY_ROLE, ''); // clones copy plugin data; a result is not a role node
      fillNode(api, copy, img);
      created.push(copy);
    });
    api.commitUndo();
    return [target, ...created];
  }
  const cells = gridBeside(rect, images.length, rect, { gap: defaultGap(rect) });
  images.forEach((img, i) => {
    const r = api.createRectangle();
    api.currentPage.appendChild(r);
    r.resize(Math.max(rect.width, 1), Math.max(rect.height, 1));
    r.x = cells[i].x;
    r.y = cells[i].y;
    r.name = resultName(img.record.seed, img.record.settings.prompt);
    r.fills = [];
    fillNode(api, r, img);
    r.setPluginData(KEY_SOURCE, target.getPluginData(KEY_SOURCE) || target.id);
    created.push(r);
  });
  api.commitUndo(); // one undo step for the whole insertion
  return created;
}

function fillNode(api: FigmaApi, node: FillableNode, img: ResultImage): void {
  const image = api.createImage(img.bytes);
  const { fills, state } = withGeneratedImage(node.fills as readonly Paint[], readPaintState(node), image.hash);
  node.fills = fills;
  node.setPluginData(KEY_PAINT, JSON.stringify(state));
  node.setPluginData(KEY_RECORD, JSON.stringify(img.record));
}
