/**
 * Photoshop's document model as the panel sees it: documents, layers (top to bottom, groups nested),
 * the active layers and the selection's bounds — plain data, read through the `photoshop` module.
 */
import { boundsToRect } from '../../../shared/plugin/region.ts';
import { HostError, type DocEdit, type DocInfo, type DocMode, type LayerInfo, type LayerKind, type PsHost } from './host-types.ts';
import type { PsDescriptor, PsDocument, PsLayer, PsModule } from './uxp-api.ts';

const MODES: Record<string, DocMode> = {
  RGBColorMode: 'rgb', CMYKColorMode: 'cmyk', labColorMode: 'lab', grayscaleMode: 'grayscale',
  indexedColorMode: 'indexed', bitmapMode: 'bitmap', duotoneMode: 'duotone', multichannelMode: 'multichannel',
};
const DEPTHS: Record<string, DocInfo['bitDepth']> = { bitDepth1: 1, bitDepth8: 8, bitDepth16: 16, bitDepth32: 32 };

const ADJUSTMENTS = new Set(['blackAndWhite', 'brightnessContrast', 'channelMixer', 'colorBalance', 'curves', 'exposure', 'gradientMap', 'hueSaturation', 'inversion', 'levels', 'photoFilter', 'posterize', 'selectiveColor', 'threshold', 'vibrance', 'colorLookup']);

export function layerKind(kind: string): LayerKind {
  if (kind === 'pixel' || kind === 'group' || kind === 'text' || kind === 'smartObject') return kind;
  if (ADJUSTMENTS.has(kind)) return 'adjustment';
  if (kind === 'solidColor' || kind === 'gradientFill' || kind === 'pattern') return 'fill';
  return 'other';
}

export function docInfo(d: PsDocument): DocInfo {
  const profile = d.colorProfileName && d.colorProfileName !== 'None' ? d.colorProfileName : '';
  return {
    id: d.id, title: d.title, width: Math.round(d.width), height: Math.round(d.height),
    mode: MODES[d.mode] ?? 'other', bitDepth: DEPTHS[d.bitsPerChannel] ?? 8, profile,
  };
}

/** Descriptor numbers come as plain numbers or `{_unit, _value}`. */
function unitValue(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { _value?: unknown })._value === 'number') return (v as { _value: number })._value;
  return null;
}

export function* walk(layers: ArrayLike<PsLayer>, depth = 0): Generator<{ layer: PsLayer; depth: number }> {
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i];
    yield { layer, depth };
    if (layer.layers && layer.layers.length) yield* walk(layer.layers, depth + 1);
  }
}

export function findDoc(ps: PsModule, id: number): PsDocument | null {
  for (let i = 0; i < ps.app.documents.length; i++) if (ps.app.documents[i].id === id) return ps.app.documents[i];
  return null;
}

export function mustDoc(ps: PsModule, id: number): PsDocument {
  const d = findDoc(ps, id);
  if (!d) throw new HostError('The document was closed.');
  return d;
}

export function findLayer(doc: PsDocument, id: number): PsLayer | null {
  for (const { layer } of walk(doc.layers)) if (layer.id === id) return layer;
  return null;
}

export function documentQueries(ps: PsModule): Pick<PsHost, 'activeDocument' | 'document' | 'layers' | 'activeLayerIds' | 'selectionBounds' | 'alphaChannels' | 'onDocumentChange'> {
  return {
    alphaChannels(docId) {
      const doc = findDoc(ps, docId);
      if (!doc) return [];
      try {
        return Array.from(doc.channels).filter((c) => c.kind === 'maskedAreas' || c.kind === 'selectedAreas').map((c) => c.name);
      } catch {
        return []; // no channel list (before Photoshop 23.0)
      }
    },

    activeDocument() {
      try {
        const d = ps.app.activeDocument;
        return d ? docInfo(d) : null;
      } catch {
        return null; // no document open
      }
    },

    document(id) {
      const d = findDoc(ps, id);
      return d ? docInfo(d) : null;
    },

    layers(docId) {
      const doc = findDoc(ps, docId);
      if (!doc) return [];
      const out: LayerInfo[] = [];
      for (const { layer, depth } of walk(doc.layers)) {
        const r = boundsToRect(layer.boundsNoEffects ?? layer.bounds);
        out.push({
          id: layer.id, name: layer.name, kind: layerKind(layer.kind), visible: layer.visible, depth,
          bounds: r.width > 0 && r.height > 0 ? r : null, isBackground: layer.isBackgroundLayer,
        });
      }
      return out;
    },

    activeLayerIds(docId) {
      const doc = findDoc(ps, docId);
      if (!doc) return [];
      return Array.from(doc.activeLayers, (l) => l.id);
    },

    async selectionBounds(docId) {
      try {
        const [r] = await ps.action.batchPlay([{ _obj: 'get', _target: [{ _property: 'selection' }, { _ref: 'document', _id: docId }] }], {});
        const s = r?.selection as Record<string, unknown> | undefined;
        if (!s) return null;
        const left = unitValue(s.left), top = unitValue(s.top), right = unitValue(s.right), bottom = unitValue(s.bottom);
        if (left === null || top === null || right === null || bottom === null || right <= left || bottom <= top) return null;
        return boundsToRect({ left, top, right, bottom });
      } catch {
        return null;
      }
    },

    onDocumentChange(fn) {
      const events = ['select', 'make', 'delete', 'set', 'open', 'close', 'move', 'hide', 'show', 'historyStateChanged', 'layersFiltered'];
      void ps.action.addNotificationListener(events, () => fn()).catch(() => undefined);
    },

  };
}

/**
 * The notifications live mode listens to (UXP `action.addNotificationListener`, Photoshop's event
 * codes): every pixel change — brush strokes, fills, filters, transforms, undo — ends in a new history
 * state (`historyStateChanged`); the selection changes with `set` on the selection channel; the active
 * layer with `select` on a layer.
 */
export const EDIT_EVENTS: readonly string[] = ['historyStateChanged', 'set', 'select'];

/** What a notification means for live mode, or null when nothing it watches changed. */
export function classifyEdit(event: string, d: PsDescriptor): DocEdit | null {
  const target = Array.isArray(d._target) ? (d._target as PsDescriptor[]) : [];
  const refs = target.map((t) => `${String(t._ref ?? '')}:${String(t._property ?? '')}`);
  if (event === 'historyStateChanged') return { kind: 'pixels', event };
  if (event === 'set' && refs.some((r) => r === 'channel:selection' || r === ':selection')) return { kind: 'selection', event };
  if (event === 'select' && refs.some((r) => r.startsWith('layer:'))) return { kind: 'layer', event };
  return null;
}
