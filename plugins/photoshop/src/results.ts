/**
 * Photoshop's insert port and the panel's list of recent results: a result becomes an item (image,
 * thumbnail, record), goes into the document as a new layer above its source in one history step, and
 * stays in the list for applying again elsewhere.
 */
import type { JobOutcome } from '../../../shared/protocol/client.ts';
import { resultName } from '../../../shared/plugin/naming.ts';
import { resizeRgba, type Gray8, type Rgba8 } from '../../../shared/plugin/raster.ts';
import type { GenerationRecord } from '../../../shared/plugin/record.ts';
import type { Rect } from '../../../shared/plugin/region.ts';
import type { PsHost } from './host.ts';

export const HISTORY_NAME = 'Generate with IP-Adapter';
const MAX_RESULTS = 8;
const THUMB_SIDE = 96;

export interface ResultItem {
  id: string;
  seed: number;
  prompt: string;
  thumbUrl: string;
  /** The result as returned (read size) and, for selection fill, the selection at region size. */
  image: Rgba8;
  alpha: Gray8 | null;
  docId: number | null;
  region: Rect;
  record: GenerationRecord;
  /** The layer it became, if inserted. */
  layerId: number | null;
}

/** The first image of an outcome as raw RGBA (Photoshop jobs ask for raw results). */
export function resultImage(out: JobOutcome): Rgba8 {
  const first = out.images[0];
  if (!first) throw new Error('the daemon returned no image');
  const { width, height, format } = first.descriptor;
  if (format !== 'raw-rgba8') throw new Error(`expected a raw RGBA result, got ${format}`);
  return { width, height, data: first.data };
}

export function resultItem(host: PsHost, image: Rgba8, record: GenerationRecord, place: { alpha: Gray8 | null; docId: number | null; region: Rect }): ResultItem {
  const k = Math.min(1, THUMB_SIDE * 2 / Math.max(image.width, image.height)); // 2x for sharp thumbnails on HiDPI
  const thumb = resizeRgba(image, Math.max(1, Math.round(image.width * k)), Math.max(1, Math.round(image.height * k)));
  return { id: record.jobId, seed: record.seed, prompt: record.settings.prompt, thumbUrl: host.imageUrl(thumb), image, ...place, record, layerId: null };
}

/** Newest first, at most MAX_RESULTS; thumbnails of dropped items are released. */
export function addResult(host: PsHost, results: ResultItem[], item: ResultItem): void {
  results.unshift(item);
  for (const old of results.splice(MAX_RESULTS)) host.releaseImageUrl(old.thumbUrl);
}

/** The result scaled back to the region with the selection as transparency, as one history step. */
export function insertResult(host: PsHost, docId: number, aboveLayerId: number | null, item: Pick<ResultItem, 'image' | 'alpha' | 'region' | 'record'>): Promise<number> {
  const { record } = item;
  return host.modal('IP-Adapter: adding the layer', (scope) => scope.insertLayer({
    docId, aboveLayerId, name: resultName(record.seed, record.settings.prompt), image: item.image, area: item.region, alpha: item.alpha, record: JSON.stringify(record),
  }), { docId, name: HISTORY_NAME });
}
