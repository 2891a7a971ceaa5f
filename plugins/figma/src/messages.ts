/**
 * Messages between the sandbox (code.ts, has the document) and the UI iframe (ui.ts, has the network).
 * Figma delivers them with structured cloning, so image bytes travel as Uint8Array (never base64).
 * UI → sandbox: `parent.postMessage({ pluginMessage }, '*')`; sandbox → UI: `figma.ui.postMessage(msg)`,
 * arriving as `event.data.pluginMessage`.
 */
import type { GenerationRecord } from '../../../shared/plugin/record.ts';
import type { RegionShape } from '../../../shared/plugin/reference-mask.ts';
import type { ConnectionSettings, GenerationSettings } from '../../../shared/plugin/settings.ts';

/** `region`: a shape whose outline on the target limits where one style reference acts (regional image prompt). */
export type Role = 'reference' | 'control' | 'region';
export type Placement = 'fill' | 'beside';
export type Intent = 'generate' | 'regenerate' | 'variation';

export interface NodeSummary {
  id: string;
  name: string;
  type: string;
  width: number;
  height: number;
}

export interface TargetSummary extends NodeSummary {
  /** The node can take an IMAGE fill (frames and shapes). */
  canFill: boolean;
  role: Role | null;
  /** Present when the node is a generated result: regenerate/variation become possible. */
  record: GenerationRecord | null;
}

export interface SelectionInfo {
  /** The single selected node, when it can be exported. */
  target: TargetSummary | null;
  count: number;
  /** Why there is no target (nothing selected, several, not exportable). */
  hint: string | null;
}

export interface RoleEntry extends NodeSummary {
  role: Role;
  /** A region node: the style reference it belongs to (its node id and name). */
  regionFor?: { id: string; name: string };
}

/** Export sizes the UI derived from the daemon's handshake. */
export interface ExportBudgetSpec {
  maxPixels: number;
  maxSide: number;
  /** Style references only feed CLIP (224²): the daemon shrinks them to 1024 anyway. */
  referenceMaxSide: number;
}

export interface ExportedImage {
  nodeId: string;
  name: string;
  /** PNG bytes. */
  bytes: Uint8Array;
  width: number;
  height: number;
}

export interface ResultImage {
  /** PNG bytes as the daemon sent them. */
  bytes: Uint8Array;
  width: number;
  height: number;
  record: GenerationRecord;
}

// ---------------------------------------------------------------- sandbox → UI

export type SandboxMessage =
  /** `pending`: the UI's pending-jobs list as it last saved it (clientStorage is the sandbox's). */
  | { type: 'init'; connection: ConnectionSettings; settings: GenerationSettings; placement: Placement; selection: SelectionInfo; roles: RoleEntry[]; pending: string | null }
  | { type: 'selection'; selection: SelectionInfo }
  | { type: 'roles'; roles: RoleEntry[] }
  | {
    type: 'exported';
    requestId: string;
    /** Where the results go: the selection, or the generated node for regenerate/variation. */
    target: NodeSummary;
    init: ExportedImage | null;
    references: ExportedImage[];
    /** Per reference (same positions): its region node's shape on the exported image, or null (acts everywhere). */
    regions?: Array<(RegionShape & { name: string }) | null>;
    controls: ExportedImage[];
    /** The target's record for regenerate/variation. */
    record: GenerationRecord | null;
  }
  | { type: 'inserted'; requestId: string; nodeIds: string[] }
  /** Live mode: the watched node (or something inside it, or a role node) changed on the canvas. */
  | { type: 'edited'; nodeId: string }
  | { type: 'failed'; requestId: string; message: string };

// ---------------------------------------------------------------- UI → sandbox

export type UiMessage =
  | { type: 'ready' }
  | { type: 'save-connection'; connection: ConnectionSettings }
  | { type: 'save-settings'; settings: GenerationSettings; placement: Placement }
  | { type: 'save-pending'; value: string | null }
  /** Marks (or, with null, unmarks) every selected node. */
  | { type: 'set-role'; role: Role | null }
  | { type: 'clear-role'; nodeId: string }
  | { type: 'reveal'; nodeId: string }
  /** `targetId`: export this node instead of the selection (live mode keeps its frame while the user selects inside it). */
  | { type: 'export'; requestId: string; intent: Intent; wantInit: boolean; budget: ExportBudgetSpec; targetId?: string }
  /** Live mode: report edits of this node (null: stop watching). */
  | { type: 'watch'; nodeId: string | null }
  | { type: 'insert'; requestId: string; targetId: string; placement: Placement; images: ResultImage[] }
  | { type: 'notify'; message: string; error: boolean };

export type SandboxMessageType = SandboxMessage['type'];
