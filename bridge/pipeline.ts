/**
 * From a validated job and its decoded images to the engine's GenerateRequest, and from the engine's
 * images back to what the client gets. Knows nothing about sockets: the daemon and `generate --local`
 * both use it.
 *
 * With an init image the result has the init image's size: the area to generate (the whole image, or the
 * mask's bounding box plus padding with `mask.crop`) is resized to the model's grid, generated, resized
 * back and pasted in, so pixels outside the selection stay exactly as sent.
 *
 * The feathered mask is applied once, by the engine (engine.ts composes its output over the init at the
 * generation size); pasting back here only takes the engine's pixels wherever the mask is not zero, so
 * the feather is not applied a second time (which would square it) and nothing outside it can change.
 */
import type { ControlInput, GenerateRequest, GenerateResult, MaskImage, RgbaImage, StyleReference } from '../engine/api.ts';
import type { InputHashes, ResultMetadata } from '../shared/protocol/messages.ts';
import type { NormalizedJob } from '../shared/protocol/validate.ts';
import { crop, featherMask, fitToGrid, flatten, maskBounds, padRect, pasteBack, resize, toMask, type Pixels, type Rect } from './image.ts';
import { renderKeypoints } from '../engine/preprocess/control.ts';
import type { PoseKeypoints } from '../shared/protocol/messages.ts';
import { REFERENCE_MAX_SIDE } from '../shared/protocol/limits.ts';
import { FAMILY_DEFAULTS, nearestSdxlBucket, type Family } from '../engine/pipeline/family.ts';


const WHITE = [255, 255, 255] as const;
const BLACK = [0, 0, 0] as const;

export interface DecodedInputs {
  init?: Pixels;
  mask?: Pixels;
  references: Pixels[];
  /** null where the control came as keypoints. */
  controls: Array<Pixels | null>;
  /** Regional masks, at the positions of the references that have one. */
  referenceMasks?: Array<Pixels | undefined>;
  hashes: InputHashes;
}

/** Something the client sent that cannot be used; `field` is its path in the job message. */
export class JobInputError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
    this.name = 'JobInputError';
  }
}

export interface PreparedJob {
  request: GenerateRequest;
  /** Flattened init at full size, for pasting back. */
  base?: RgbaImage;
  region?: Rect;
  /** Region-sized, binary: where the engine's pixels (already blended through the feathered mask) replace the init's. */
  pasteMask?: MaskImage;
  outputWidth: number;
  outputHeight: number;
  /** Per reference: whether its mask was inverted (for the metadata). */
  maskInverted: boolean[];
}

export interface PrepareOptions {
  maxPixels: number;
  /** Used when the job gives no seed. */
  seed: number;
  /** The family of the job's checkpoint: its defaults fill what the job leaves out (default SD1.5). */
  family?: Family;
}

/**
 * The generation size for an area (an init region, or none): SDXL takes the aspect bucket nearest the
 * area's (1024² without one), SD1.5 about 512² on the 8-px grid; both within the pixel budget.
 */
export function generationSize(family: Family, area: { width: number; height: number } | undefined, maxPixels: number): { width: number; height: number } {
  const side = FAMILY_DEFAULTS[family].size;
  const want = family === 'sdxl' ? (area ? nearestSdxlBucket(area.width, area.height) : { width: side, height: side }) : undefined;
  if (want && want.width * want.height <= maxPixels) return want;
  return fitToGrid(area?.width ?? side, area?.height ?? side, side * side, maxPixels);
}

export async function prepareJob(job: NormalizedJob, inputs: DecodedInputs, opts: PrepareOptions): Promise<PreparedJob> {
  const p = job.params;
  const family = opts.family ?? 'sd15';
  const defaults = FAMILY_DEFAULTS[family];
  let width = p.width;
  let height = p.height;
  let base: RgbaImage | undefined;
  let region: Rect | undefined;
  let pasteMask: MaskImage | undefined;
  let feathered: MaskImage | undefined;
  let init: RgbaImage | undefined;
  let mask: MaskImage | undefined;

  if (inputs.init) {
    base = flatten(inputs.init, WHITE);
    region = { x: 0, y: 0, width: base.width, height: base.height };
    if (inputs.mask && job.mask) {
      const hard = toMask(inputs.mask, job.mask.invert);
      if (hard.width !== base.width || hard.height !== base.height) {
        throw new JobInputError('mask', `the mask is ${hard.width}x${hard.height} but the init image is ${base.width}x${base.height}; send them at the same size`);
      }
      const bounds = maskBounds(hard);
      if (!bounds) throw new JobInputError('mask', 'the mask is empty: nothing to repaint (white = repaint, or set mask.invert)');
      if (job.mask.crop) region = padRect(bounds, job.mask.padding + Math.ceil(job.mask.feather), base.width, base.height);
      feathered = crop(await featherMask(crop(hard, featherArea(region, job.mask.feather, base)), job.mask.feather), relative(region, featherArea(region, job.mask.feather, base)));
      pasteMask = { width: feathered.width, height: feathered.height, data: feathered.data.map((a) => (a > 0 ? 255 : 0)) };
    }
    if (width === undefined || height === undefined) ({ width, height } = generationSize(family, region, opts.maxPixels));
    init = await resize(crop(base, region), width, height);
    if (feathered) mask = await resize(feathered, width, height);
  }
  if (width === undefined || height === undefined) ({ width, height } = generationSize(family, undefined, opts.maxPixels));
  const gw = width, gh = height;

  // The job's own fields go to the engine as they are (one shape, validated once); only the pixels and
  // their hashes are added here.
  const references: StyleReference[] = await Promise.all(job.references.map(async ({ from: _from, mask: maskSpec, ...r }, i) => ({
    ...r,
    image: await shrinkReference(flatten(inputs.references[i], WHITE)),
    ...(inputs.hashes.references[i] ? { hash: inputs.hashes.references[i]! } : {}),
    ...(maskSpec ? { mask: await referenceMask(inputs.referenceMasks?.[i], maskSpec.invert, `references[${i}].mask`, base, region, gw, gh) } : {}),
  })));

  const controls: ControlInput[] = await Promise.all(job.controls.map(async ({ from, ...c }, i) => {
    const src = from.source === 'keypoints'
      ? controlFromKeypoints(from.keypoints, base, region, gw, gh)
      : flatten(inputs.controls[i]!, BLACK);
    // A control layer at the init's full size is cut to the same region as the init.
    const cut = base && region && src.width === base.width && src.height === base.height ? crop(src, region) : src;
    return {
      ...c,
      image: await resize(cut, gw, gh),
      ...(inputs.hashes.controls[i] ? { hash: inputs.hashes.controls[i]! } : {}),
    };
  }));

  const request: GenerateRequest = {
    params: {
      ...p, seed: p.seed ?? opts.seed, width: gw, height: gh,
      steps: p.steps ?? defaults.steps, sampler: p.sampler ?? defaults.sampler, guidance: p.guidance ?? defaults.guidance,
    },
    ...(init ? { init } : {}),
    ...(mask ? { mask } : {}),
    references,
    controls,
  };
  const full = base && region && region.width === base.width && region.height === base.height;
  return {
    request,
    base,
    region: base && !full ? region : undefined,
    pasteMask,
    outputWidth: base ? base.width : gw,
    outputHeight: base ? base.height : gh,
    maskInverted: job.references.map((r) => r.mask?.invert ?? false),
  };
}

/** Engine images (generation size) → output images (the init's size, pasted back where the mask is not zero). */
export async function finishImages(prep: PreparedJob, images: readonly RgbaImage[]): Promise<RgbaImage[]> {
  const base = prep.base;
  if (!base) return [...images];
  const region = prep.region ?? { x: 0, y: 0, width: base.width, height: base.height };
  return Promise.all(images.map(async (img) => {
    const sized = await resize(img, region.width, region.height);
    if (!prep.pasteMask && !prep.region) return sized;
    // A fresh resize is ours to write into; the engine's own image (same size) is left alone.
    return pasteBack(base, sized, region, prep.pasteMask, { reusePatch: sized !== img });
  }));
}

/**
 * The metadata a client stores with the layer to regenerate it later: the engine's own record of what it
 * ran (params, references, controls, models — built once, in engine.ts) plus what only the bridge knows
 * (the input hashes, the region and output size, the daemon's timings). Nothing is rebuilt from the job.
 */
export function resultMetadata(prep: PreparedJob, res: GenerateResult, hashes: InputHashes, timings: Record<string, number>): ResultMetadata {
  const m = res.metadata;
  return {
    params: { ...m.params, loras: m.params.loras ? m.params.loras.map((l) => ({ model: l.model, strength: l.strength })) : [] },
    references: m.references.map(({ masked, ...r }, i) => ({
      ...r,
      hash: r.hash ?? null,
      // The mask as a blob the daemon keeps, so regenerating can send it back by hash.
      ...(masked && hashes.referenceMasks?.[i] ? { mask: { source: 'hash' as const, hash: hashes.referenceMasks[i]!, ...(prep.maskInverted[i] ? { invert: true } : {}) } } : {}),
    })),
    controls: m.controls.map((c, i) => ({ ...c, hash: c.hash ?? null, ...(res.controlKeypoints?.[i] ? { detectedKeypoints: res.controlKeypoints[i] } : {}) })),
    models: { ...m.models },
    ...(m.family ? { family: m.family } : {}),
    timings: { ...m.timings, ...timings },
    engine: m.engine,
    ...(prep.region ? { region: prep.region } : {}),
    outputWidth: prep.outputWidth,
    outputHeight: prep.outputHeight,
    inputs: hashes,
  };
}

/**
 * A reference's regional mask at the generation size: the init's size (cut to the generated region like
 * the init), or any size with the output's aspect without an init. ≥ 128 = inside after `invert`.
 */
async function referenceMask(px: Pixels | undefined, invert: boolean, field: string, base: RgbaImage | undefined, region: Rect | undefined, gw: number, gh: number): Promise<MaskImage> {
  if (!px) throw new JobInputError(field, 'the mask image is missing');
  const m = toMask(px, invert);
  if (base && region) {
    if (m.width !== base.width || m.height !== base.height) throw new JobInputError(field, `the mask is ${m.width}x${m.height} but the init image is ${base.width}x${base.height}; send them at the same size`);
  } else if (Math.abs(m.width / m.height - gw / gh) > 0.02 * (gw / gh)) {
    throw new JobInputError(field, `the mask is ${m.width}x${m.height}, another shape than the ${gw}x${gh} image; send it with the image's aspect ratio`);
  }
  const sized = await resize(base && region ? crop(m, region) : m, gw, gh);
  if (!maskBounds(sized, 127)) throw new JobInputError(field, `the mask selects nothing${base && region ? ' inside the generated area' : ''}: the reference would act nowhere (white = where it acts, or set invert)`);
  return sized;
}

/** Keypoints given in the init's full-size coordinates are drawn there and cut like the init; others at generation size. */
function controlFromKeypoints(kp: PoseKeypoints, base: RgbaImage | undefined, region: Rect | undefined, gw: number, gh: number): RgbaImage {
  if (base && region && kp.canvas_width === base.width && kp.canvas_height === base.height) return renderKeypoints(kp, base.width, base.height).image;
  return renderKeypoints(kp, gw, gh).image;
}

async function shrinkReference(img: RgbaImage): Promise<RgbaImage> {
  const side = Math.max(img.width, img.height);
  if (side <= REFERENCE_MAX_SIDE) return img;
  const k = REFERENCE_MAX_SIDE / side;
  return resize(img, Math.max(1, Math.round(img.width * k)), Math.max(1, Math.round(img.height * k)));
}

/** The region grown by the blur's reach, so feathering near the region's edge sees the real mask beyond it. */
function featherArea(region: Rect, feather: number, base: RgbaImage): Rect {
  return padRect(region, Math.ceil(feather * 1.5), base.width, base.height);
}

function relative(inner: Rect, outer: Rect): Rect {
  return { x: inner.x - outer.x, y: inner.y - outer.y, width: inner.width, height: inner.height };
}
