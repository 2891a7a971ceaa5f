/**
 * Live mode's eyes in the sandbox: reports edits of the watched frame to the UI.
 *
 * Figma's `figma.on('documentchange')` cannot be used with `documentAccess: "dynamic-page"` (it would
 * need every page loaded; Figma's own lint rule "dynamic-page-documentchange-event-advice" says to use
 * `PageNode.on('nodechange')` instead), so this listens to the watched frame's page: a change to the
 * frame, to anything inside it, or to a node marked as style/pose reference (they feed every job) is
 * an edit. The UI debounces; here every matching event batch becomes one `edited` message.
 */
import type { SandboxMessage } from './messages.ts';
import { pageOf, type FigmaApi } from './nodes.ts';
import { readRole } from './store.ts';

export interface LiveWatch {
  /** Starts watching `nodeId` (replacing any earlier one), or stops with null. */
  set(nodeId: string | null): Promise<void>;
}

/** The watched node itself, a node inside it, or a role node (or inside one). */
function concerns(node: BaseNode | RemovedNode, watchedId: string): boolean {
  if (node.removed) return node.id === watchedId;
  for (let n: BaseNode | null = node; n && n.type !== 'PAGE' && n.type !== 'DOCUMENT'; n = n.parent) {
    if (n.id === watchedId) return true;
    if ('getPluginData' in n && readRole(n as SceneNode) !== null) return true;
  }
  return false;
}

export function liveWatch(api: FigmaApi, post: (m: SandboxMessage) => void): LiveWatch {
  let stop: (() => void) | null = null;
  return {
    async set(nodeId) {
      stop?.();
      stop = null;
      if (nodeId === null) return;
      const node = await api.getNodeByIdAsync(nodeId);
      const page = node && !node.removed ? pageOf(node) : null;
      if (!page) return;
      const onChange = (e: NodeChangeEvent): void => {
        if (e.nodeChanges.some((c) => concerns(c.node, nodeId))) post({ type: 'edited', nodeId });
      };
      page.on('nodechange', onChange);
      stop = () => page.off('nodechange', onChange);
    },
  };
}
