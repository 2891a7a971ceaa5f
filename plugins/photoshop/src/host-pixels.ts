/**
 * The modal scope's pixel work: composite, layer and selection reads as 8-bit sRGB (converted here when
 * Photoshop hands back something else, `dispose()` right after `getData()`), and the new layer written
 * stripe by stripe at the document's depth and profile, with the record in its XMP.
 */
import {
  baseProfileName, findProfile, fromSrgb8, isSrgb, SRGB_PROFILE, toSrgb8, type ComponentSize, type PixelArray,
} from '../../../shared/plugin/color-convert.ts';
import { scaledStripes } from '../../../shared/plugin/raster.ts';
import { boundsToRect, intersectRect, levelBoundsToDocument, rectToBounds, type Rect } from '../../../shared/plugin/region.ts';
import { readXmpRecord, writeXmpRecord } from '../../../shared/plugin/xmp-record.ts';
import { docInfo, findLayer, layerKind, mustDoc } from './host-document.ts';
import { HostError, type InsertRequest, type ModalScope, type PixelRead, type SelectionRead } from './host-types.ts';
import type { PsBounds, PsExecutionContext, PsImageData, PsLayer, PsModule } from './uxp-api.ts';

/** Reads a whole imageData and disposes it at once (Photoshop frees the memory now, not at GC). */
async function takeData(img: PsImageData): Promise<PixelArray> {
  try {
    return await img.getData({ chunky: true });
  } finally {
    img.dispose();
  }
}

function to8(data: PixelArray, componentSize: ComponentSize): Uint8Array {
  if (data instanceof Uint8Array) return data;
  const out = new Uint8Array(data.length);
  const k = componentSize === 16 ? 255 / 32768 : 255;
  for (let i = 0; i < data.length; i++) out[i] = Math.max(0, Math.min(255, Math.round(data[i] * k)));
  return out;
}

const XMP_PROPERTY = 'XMPMetadataAsUTF8';

async function toRead(img: PsImageData, bounds: Rect, profileHint: string): Promise<PixelRead> {
  const { width, height, components, componentSize } = img;
  const profileName = img.colorProfile || profileHint;
  const data = await takeData(img);
  const converted = componentSize === 8 && components === 4 && isSrgb(findProfile(profileName)) && data instanceof Uint8Array;
  const prof = findProfile(profileName);
  const image = converted ? { width, height, data } : toSrgb8(data, { width, height, components, componentSize, profile: prof });
  const read: PixelRead = { image, doc: bounds };
  if (!prof && profileName) read.colorNote = `Colours are read as they are in "${profileName}" (not converted to sRGB).`;
  return read;
}

/**
 * A selection, layer mask or channel as getSelection/getLayerMask return it: one grey channel (or its
 * first, where more come), 8/16/32-bit by the document's depth, made 8-bit and placed in the document.
 */
async function toMaskRead(r: { imageData: PsImageData; sourceBounds: PsBounds }): Promise<SelectionRead> {
  const { width, height, components, componentSize } = r.imageData;
  const data = to8(await takeData(r.imageData), componentSize);
  const mask = components === 1 ? data : Uint8Array.from({ length: width * height }, (_v, i) => data[i * components]);
  return { mask: { width, height, data: mask }, doc: boundsToRect(r.sourceBounds) };
}

/** The layer's XMP packet, or null (a layer without metadata answers with an error on some versions). */
export async function layerXmp(ps: PsModule, docId: number, layerId: number): Promise<string | null> {
  try {
    const [r] = await ps.action.batchPlay([{ _obj: 'get', _target: [{ _property: 'metadata' }, { _ref: 'layer', _id: layerId }, { _ref: 'document', _id: docId }] }], {});
    const meta = r?.metadata as { layerXMP?: unknown } | undefined;
    if (typeof meta?.layerXMP === 'string') return meta.layerXMP;
    if (typeof r?.[XMP_PROPERTY] === 'string') return r[XMP_PROPERTY] as string;
  } catch {
    // a layer without metadata answers with an error on some versions
  }
  return null;
}

export async function readLayerRecord(ps: PsModule, docId: number, layerId: number): Promise<string | null> {
  return readXmpRecord(await layerXmp(ps, docId, layerId));
}

/** A scope over one executeAsModal context; `alive` turns false when the modal function returned. */
export function modalScope(ps: PsModule, ctx: PsExecutionContext, alive: () => boolean, stripePixels: number): ModalScope {
  const live = (): void => {
    if (!alive()) throw new HostError('internal: a modal scope was used after it ended');
  };
  return {
    get cancelled() {
      return ctx.isCancelled;
    },

    async readComposite(docId, rect, size, hide = []) {
      live();
      const doc = mustDoc(ps, docId);
      // Hiding layers is a document change: suspend history and roll it back, so nothing is recorded.
      let suspension: unknown = null;
      const hidden = hide.map((id) => findLayer(doc, id)).filter((l): l is PsLayer => !!l && l.visible);
      if (hidden.length) {
        suspension = await ctx.hostControl.suspendHistory({ documentID: docId, name: 'IP-Adapter read' });
        for (const l of hidden) l.visible = false;
      }
      try {
        const scaled = size.width !== rect.width || size.height !== rect.height;
        const r = await ps.imaging.getPixels({
          documentID: docId, sourceBounds: rectToBounds(rect), ...(scaled ? { targetSize: { width: size.width, height: size.height } } : {}),
          colorSpace: 'RGB', colorProfile: SRGB_PROFILE, componentSize: 8,
        });
        return toRead(r.imageData, levelBoundsToDocument(r.sourceBounds, r.level), docInfo(doc).profile);
      } finally {
        if (suspension !== null) await ctx.hostControl.resumeHistory(suspension as never, false);
      }
    },

    async readLayer(docId, layerId, rect, size) {
      live();
      const doc = mustDoc(ps, docId);
      const layer = findLayer(doc, layerId);
      if (!layer) throw new HostError('The chosen layer no longer exists: pick it again.');
      const lb = boundsToRect(layer.boundsNoEffects ?? layer.bounds);
      const area = rect ? intersectRect(lb, rect) : lb.width > 0 && lb.height > 0 ? lb : null;
      if (!area) return null;
      // Scale the target like the area (`size` is for `rect`, or for the whole layer).
      const base = rect ?? lb;
      const target = size ? { width: Math.max(1, Math.round(area.width * size.width / base.width)), height: Math.max(1, Math.round(area.height * size.height / base.height)) } : null;
      const scaled = target && (target.width !== area.width || target.height !== area.height);
      let r;
      try {
        r = await ps.imaging.getPixels({
          documentID: docId, layerID: layerId, sourceBounds: rectToBounds(area), ...(scaled ? { targetSize: target } : {}),
          colorSpace: 'RGB', colorProfile: SRGB_PROFILE, componentSize: 8,
        });
      } catch (e) {
        throw new HostError(`Cannot read the pixels of "${layer.name}" (${layerKind(layer.kind)} layer): ${(e as Error).message}. Rasterize or merge it into a pixel layer.`);
      }
      return toRead(r.imageData, levelBoundsToDocument(r.sourceBounds, r.level), docInfo(doc).profile);
    },

    async readSelection(docId, rect) {
      live();
      let r;
      try {
        r = await ps.imaging.getSelection({ documentID: docId, sourceBounds: rectToBounds(rect) });
      } catch {
        return null; // no selection
      }
      return toMaskRead(r);
    },

    async readLayerMask(docId, layerId, rect) {
      live();
      let r;
      try {
        r = await ps.imaging.getLayerMask({ documentID: docId, layerID: layerId, kind: 'user', sourceBounds: rectToBounds(rect) });
      } catch {
        return null; // the layer has no layer mask
      }
      return toMaskRead(r);
    },

    async readChannelMask(docId, channelName, rect) {
      live();
      // Loading a channel as the selection is a document change: suspended and rolled back, so the user's
      // own selection comes back and nothing is recorded.
      const suspension = await ctx.hostControl.suspendHistory({ documentID: docId, name: 'IP-Adapter read' });
      try {
        await ps.action.batchPlay([{ _obj: 'set', _target: [{ _ref: 'channel', _property: 'selection' }, { _ref: 'document', _id: docId }], to: { _ref: 'channel', _name: channelName } }], {});
        const r = await ps.imaging.getSelection({ documentID: docId, sourceBounds: rectToBounds(rect) });
        return await toMaskRead(r);
      } catch {
        return null; // no such channel, or it selects nothing
      } finally {
        await ctx.hostControl.resumeHistory(suspension as never, false);
      }
    },

    async insertLayer(req) {
      live();
      const doc = mustDoc(ps, req.docId);
      const layer = await doc.createPixelLayer({ name: req.name });
      if (!layer) throw new HostError('Photoshop did not create the layer.');
      const anchor = req.aboveLayerId !== null ? findLayer(doc, req.aboveLayerId) : null;
      if (anchor && anchor.id !== layer.id) await layer.move(anchor, ps.constants.ElementPlacement.PLACEBEFORE);
      await writePixels(layer.id, req);
      if (req.record !== undefined) await storeRecord(req.docId, layer.id, req.record);
      return layer.id;
    },

    async updateLayer(layerId, req) {
      live();
      const doc = mustDoc(ps, req.docId);
      if (!findLayer(doc, layerId)) throw new HostError('The live layer was deleted.');
      await writePixels(layerId, req);
    },

    async finishLayer(docId, layerId, name, record) {
      live();
      const layer = findLayer(mustDoc(ps, docId), layerId);
      if (!layer) throw new HostError('The live layer was deleted.');
      layer.name = name;
      await storeRecord(docId, layerId, record);
    },
  };

  /** The image scaled to its area, masked and converted, written into `layerId` (its old pixels replaced). */
  async function writePixels(layerId: number, req: InsertRequest): Promise<void> {
    const info = docInfo(mustDoc(ps, req.docId));
    // Known matrix profiles are converted here (exact, no reliance on the host); others go as sRGB
    // and Photoshop converts. 16/32-bit documents get 16/32-bit data.
    const known = findProfile(info.profile);
    const depth: ComponentSize = info.bitDepth === 16 ? 16 : info.bitDepth === 32 ? 32 : 8;
    // Scaled, masked and converted stripe by stripe: memory stays bounded for any region size.
    for (const stripe of scaledStripes(req.image, req.area.width, req.area.height, req.alpha, stripePixels)) {
      const data = fromSrgb8(stripe.pixels, { componentSize: depth, profile: known });
      const imageData = await ps.imaging.createImageDataFromBuffer(data, {
        width: stripe.pixels.width, height: stripe.pixels.height, components: 4, chunky: true, colorSpace: 'RGB',
        colorProfile: known ? baseProfileName(known.name) : SRGB_PROFILE,
      });
      try {
        await ps.imaging.putPixels({
          documentID: req.docId, layerID: layerId, imageData, replace: stripe.y === 0,
          targetBounds: { left: req.area.x, top: req.area.y + stripe.y }, commandName: 'Generate with IP-Adapter',
        });
      } finally {
        imageData.dispose();
      }
    }
  }

  async function storeRecord(docId: number, layerId: number, record: string): Promise<void> {
    const xmp = writeXmpRecord(await layerXmp(ps, docId, layerId), record);
    await ps.action.batchPlay([{
      _obj: 'set',
      _target: [{ _ref: 'property', _property: XMP_PROPERTY }, { _ref: 'layer', _id: layerId }, { _ref: 'document', _id: docId }],
      to: { _obj: 'layer', [XMP_PROPERTY]: xmp },
    }], {});
  }
}
