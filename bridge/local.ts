/**
 * Runs one job on an engine in this process, with exactly the daemon's validation and image pipeline
 * (`generate --local`). The job and its images have the same shape as over the wire.
 */
import { randomInt } from 'node:crypto';
import type { Engine, GenerateOptions, RgbaImage } from '../engine/api.ts';
import type { ImagePayload, JobInputs } from '../shared/protocol/client.ts';
import { DEFAULT_MAX_BATCH, DEFAULT_MAX_INPUT_PIXELS } from '../shared/protocol/limits.ts';
import type { InputHashes, JobMessage, ResultMetadata } from '../shared/protocol/messages.ts';
import { validateJob } from '../shared/protocol/validate.ts';
import { sha256Hex } from './blobs.ts';
import { decodePixels, type Pixels } from './image.ts';
import { jobFamily } from './models/families.ts';
import { finishImages, prepareJob, resultMetadata, type DecodedInputs } from './pipeline.ts';

export class LocalJobError extends Error {
  constructor(message: string, readonly field?: string) {
    super(field ? `${message} (field ${field})` : message);
    this.name = 'LocalJobError';
  }
}

export interface LocalOptions extends Pick<GenerateOptions, 'signal' | 'onProgress'> {
  maxPixels: number;
}

export async function runJobLocally(engine: Engine, message: JobMessage, inputs: JobInputs, opts: LocalOptions): Promise<{ images: RgbaImage[]; metadata: ResultMetadata }> {
  const v = validateJob(message, { maxPixels: opts.maxPixels, maxBatch: DEFAULT_MAX_BATCH });
  if (!v.ok) throw new LocalJobError(v.error.message, v.error.field);
  const job = v.value;
  const decode = async (img: ImagePayload | undefined, field: string): Promise<{ pixels: Pixels; hash: string } | undefined> => {
    if (!img) return undefined;
    try {
      const hash = sha256Hex(img.data);
      return { pixels: await decodePixels(img.data, img.format, img.width, img.height, { premultiplied: img.premultiplied ?? false, maxPixels: DEFAULT_MAX_INPUT_PIXELS }), hash };
    } catch (e) {
      throw new LocalJobError((e as Error).message, field);
    }
  };
  const init = await decode(inputs.init, 'init');
  const mask = await decode(inputs.mask, 'mask');
  const refs = await Promise.all(job.references.map((_, i) => decode(inputs.references?.[i], `references[${i}]`)));
  const refMasks = await Promise.all(job.references.map((r, i) => (r.mask ? decode(inputs.referenceMasks?.[i], `references[${i}].mask`) : undefined)));
  const ctrls = await Promise.all(job.controls.map((c, i) => (c.from.source === 'keypoints' ? undefined : decode(inputs.controls?.[i], `controls[${i}]`))));
  refs.forEach((r, i) => {
    if (!r) throw new LocalJobError('image missing', `references[${i}]`);
  });
  const hashes: InputHashes = {
    ...(init ? { init: init.hash } : {}),
    ...(mask ? { mask: mask.hash } : {}),
    references: refs.map((r) => r?.hash ?? null),
    controls: ctrls.map((c) => c?.hash ?? null),
    ...(job.references.some((r) => r.mask) ? { referenceMasks: refMasks.map((m) => m?.hash ?? null) } : {}),
  };
  const decoded: DecodedInputs = {
    init: init?.pixels,
    mask: mask?.pixels,
    references: refs.map((r) => r!.pixels),
    controls: ctrls.map((c) => c?.pixels ?? null),
    referenceMasks: refMasks.map((m) => m?.pixels),
    hashes,
  };
  const t0 = Date.now();
  const family = jobFamily(await engine.listModels(), job.params.checkpoint);
  const prep = await prepareJob(job, decoded, { maxPixels: opts.maxPixels, seed: randomInt(0, 2 ** 32 - 1), family });
  const res = await engine.generate(prep.request, { signal: opts.signal, onProgress: opts.onProgress });
  const images = await finishImages(prep, res.images);
  return { images, metadata: resultMetadata(prep, res, hashes, { total: Date.now() - t0 }) };
}
