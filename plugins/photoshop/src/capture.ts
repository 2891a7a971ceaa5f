/**
 * Photoshop's capture port: what one job needs from the document — the target region, the init pixels,
 * the selection as mask, the style reference and the control layer — read inside one modal scope (no
 * network here) and built into the job. Also the document checks that come before any read.
 */
import type { JobInputs } from '../../../shared/protocol/client.ts';
// References are read no larger than the daemon would shrink them to (one constant for all sides).
import { REFERENCE_MAX_SIDE } from '../../../shared/protocol/limits.ts';
import type { AdapterKind, Capabilities, JobMessage } from '../../../shared/protocol/messages.ts';
import { UserError } from '../../../shared/plugin/errors.ts';
import { composeControl, isBlank } from '../../../shared/plugin/pose-composite.ts';
import { buildPsJob, sniffImageFormat, type PsCapture } from '../../../shared/plugin/ps-job.ts';
import { blankRgba, drawRgba, type Gray8, type Rgba8 } from '../../../shared/plugin/raster.ts';
import type { GenerationRecord, SeedVariation } from '../../../shared/plugin/record.ts';
import { chooseRegion, fitWithin, intersectRect, placeInRead, type Rect, type SizePlan } from '../../../shared/plugin/region.ts';
import { maskStats, repaintMask, selectionToMask } from '../../../shared/plugin/selection-mask.ts';
import { familyOffer, familyPlanSizes, settingsForFamily } from '../../../shared/plugin/families.ts';
import { referenceMaskSize, regionalMask, selectsSomething } from '../../../shared/plugin/reference-mask.ts';
import type { GenerationSettings } from '../../../shared/plugin/settings.ts';
import type { DocInfo, LayerInfo, ModalScope, PickedFile, PsHost, SelectionRead } from './host.ts';

/** Why a document cannot be used as is, or null. CMYK/Lab/… get the way out. */
export function documentProblem(doc: DocInfo): string | null {
  const convert = 'IP-Adapter works on RGB pixels. Duplicate the document (Image › Duplicate), set Image › Mode › RGB Color on the copy, generate there and bring the layer back — or convert this one if its mode does not matter.';
  switch (doc.mode) {
    case 'rgb':
      return null;
    case 'cmyk':
      return `This is a CMYK document. ${convert} Converting to CMYK at the end keeps your separation settings in your hands.`;
    case 'lab':
      return `This is a Lab document. ${convert}`;
    case 'grayscale':
      return `This is a Grayscale document. ${convert}`;
    default:
      return `This document's mode (${doc.mode}) has no RGB pixels. ${convert}`;
  }
}

/** A generated layer being regenerated or varied: its id and its record. */
export interface RepeatSource {
  layerId: number;
  record: GenerationRecord;
}

export interface CaptureRequest {
  settings: GenerationSettings;
  doc: DocInfo;
  seed: number;
  variation?: SeedVariation;
  repeat?: RepeatSource;
  /** The file picked as style reference this session, if any. */
  referenceFile: PickedFile | null;
  /** Adapter kinds the daemon has models for. */
  adapters: readonly AdapterKind[];
  /** Layers left out of the init (live mode's own layer must not feed the next live job). */
  hideLayerIds?: readonly number[];
}

/** What the capture decided and read: the job, and where its result goes. */
export interface DocumentCapture {
  job: JobMessage;
  inputs: JobInputs;
  region: Rect;
  plan: SizePlan;
  sourceLayerId: number | null;
  /** The selection at region size (selection fill), the new layer's transparency. */
  alpha: Gray8 | null;
  notes: string[];
}

/** The document area a job covers: a regenerated layer's own, else the mode's choice. */
async function targetRegion(host: PsHost, r: CaptureRequest): Promise<Rect> {
  const { doc } = r;
  const canvas = { x: 0, y: 0, width: doc.width, height: doc.height };
  if (r.repeat?.record.target) {
    const clipped = intersectRect(r.repeat.record.target.region, canvas);
    if (!clipped) throw new UserError('The generated layer\'s area is outside the canvas now.');
    return clipped;
  }
  const choice = chooseRegion(r.settings.mode, doc, await host.selectionBounds(doc.id), r.settings.padding);
  if (!choice.ok) throw new UserError(choice.reason);
  return choice.region;
}

export async function captureDocument(host: PsHost, r: CaptureRequest, jobId: string, caps: Capabilities): Promise<DocumentCapture> {
  const { doc } = r;
  // The chosen checkpoint's family decides the size (SDXL: its nearest aspect bucket), the defaults
  // for what the user left unset, and which adapter kinds / control types have models.
  const offer = familyOffer(caps, r.settings.checkpoint);
  const s = settingsForFamily(r.settings, offer);
  const region = await targetRegion(host, r);
  const plan = familyPlanSizes(region, offer, Math.min(s.size, caps.maxPixels), caps.maxPixels);
  const layers = host.layers(doc.id);
  const sourceLayerId = r.repeat ? r.repeat.layerId : (host.activeLayerIds(doc.id)[0] ?? layers[0]?.id ?? null);
  // Read everything in one modal scope, then leave it before any network wait.
  const read = await host.modal('IP-Adapter: reading the document', (scope) => readInputs(scope, { doc, layers, plan, settings: s, sourceLayerId, repeat: r.repeat, referenceFile: r.referenceFile, hide: r.hideLayerIds ?? [] }));
  const built = buildPsJob(s, read.capture, { jobId, seed: r.seed, variation: r.variation, adapters: offer.adapters.length ? offer.adapters : r.adapters });
  referenceByHash(built.job, built.inputs, s, r.repeat);
  return { ...built, region, plan, sourceLayerId, alpha: read.alpha, notes: read.notes };
}

interface ReadContext {
  doc: DocInfo;
  layers: LayerInfo[];
  plan: SizePlan;
  settings: GenerationSettings;
  sourceLayerId: number | null;
  repeat?: RepeatSource;
  referenceFile: PickedFile | null;
  hide: readonly number[];
}

/** Everything a job needs from the document. Runs inside a modal scope: no network here. */
async function readInputs(scope: ModalScope, c: ReadContext): Promise<{ capture: PsCapture; alpha: Gray8 | null; notes: string[] }> {
  const capture: PsCapture = { plan: c.plan };
  const notes: string[] = [];
  let alpha: Gray8 | null = null;
  if (c.settings.mode !== 'canvas') capture.init = await readInit(scope, c, notes);
  if (c.settings.mode === 'inpaint') {
    const sel = await readSelectionFor(scope, c);
    capture.mask = repaintMask(selectionToMask(sel.mask, sel.doc, c.plan.region, c.plan.read));
    if (!maskStats(capture.mask).bounds) throw new UserError('The selection is empty inside the area to fill.');
    alpha = selectionToMask(sel.mask, sel.doc, c.plan.region, { width: c.plan.region.width, height: c.plan.region.height });
  }
  const reference = await readReference(scope, c);
  if (reference) capture.reference = reference;
  // A saved selection works for any reference; a layer mask only for a reference layer.
  const ref = c.settings.reference;
  if (reference && ref.maskChannel) capture.referenceMask = await readChannelMask(scope, c, ref.maskChannel, !!capture.init);
  if (reference && ref.source === 'layer' && ref.layerId !== null) {
    if (ref.mask && !ref.maskChannel) capture.referenceMask = await readReferenceMask(scope, c, ref.layerId, ref.layerName, !!capture.init);
    const second = c.settings.reference2;
    if (second && second.layerId !== ref.layerId) {
      const image = await readReferenceLayer(scope, c, second.layerId, second.layerName);
      const mask = second.mask ? await readReferenceMask(scope, c, second.layerId, second.layerName, !!capture.init) : undefined;
      capture.moreReferences = [{ image, ...(mask ? { mask } : {}) }];
    }
  }
  const control = await readControl(scope, c, notes);
  if (control) capture.control = control;
  return { capture, alpha, notes };
}

async function readInit(scope: ModalScope, c: ReadContext, notes: string[]): Promise<Rgba8> {
  const { region, read } = c.plan;
  // A regenerated layer must not see itself: it is hidden for the read (and the change rolled back).
  const px = c.settings.sample === 'layer' && c.sourceLayerId !== null && !c.repeat
    ? await scope.readLayer(c.doc.id, c.sourceLayerId, region, read)
    : await scope.readComposite(c.doc.id, region, read, c.repeat ? [c.repeat.layerId, ...c.hide] : c.hide);
  const init = blankRgba(read.width, read.height);
  if (px) {
    drawRgba(init, px.image, placeInRead(px.doc, region, read));
    if (px.colorNote) notes.push(px.colorNote);
  }
  return init;
}

async function readSelectionFor(scope: ModalScope, c: ReadContext): Promise<SelectionRead> {
  let sel: SelectionRead | null;
  if (c.repeat) {
    // The original selection is gone after a reopen; the generated layer's transparency is that selection.
    const lr = await scope.readLayer(c.doc.id, c.repeat.layerId, c.plan.region, null);
    sel = lr ? { mask: alphaOf(lr.image), doc: lr.doc } : null;
  } else {
    sel = await scope.readSelection(c.doc.id, c.plan.region);
  }
  if (!sel) throw new UserError('Selection fill needs a selection: select the area to repaint first.');
  return sel;
}

async function readReference(scope: ModalScope, c: ReadContext): Promise<PsCapture['reference']> {
  const ref = c.settings.reference;
  if (ref.source === 'layer' && ref.layerId !== null) return { image: await readReferenceLayer(scope, c, ref.layerId, ref.layerName) };
  const file = c.referenceFile;
  if (ref.source === 'file' && file && file.name === ref.fileName) {
    const format = sniffImageFormat(file.bytes);
    if (format) return { encoded: file.bytes, format };
  }
  return undefined;
}

/** A reference layer's pixels, no larger than the daemon would shrink them to. */
async function readReferenceLayer(scope: ModalScope, c: ReadContext, layerId: number, layerName: string): Promise<Rgba8> {
  const layer = c.layers.find((l) => l.id === layerId);
  if (!layer) throw new UserError(`The style reference layer "${layerName}" is not in this document: pick it again.`);
  if (!layer.bounds) throw new UserError(`The style reference layer "${layer.name}" is empty.`);
  const px = await scope.readLayer(c.doc.id, layer.id, null, fitWithin(layer.bounds, REFERENCE_MAX_SIDE, REFERENCE_MAX_SIDE * REFERENCE_MAX_SIDE));
  if (!px) throw new UserError(`The style reference layer "${layer.name}" is empty.`);
  return px.image;
}

/**
 * A regional image prompt: the reference layer's layer mask over the job's region, mapped like the
 * selection becomes the inpaint mask, at the size the daemon wants (the init's, else the generation's).
 */
async function readReferenceMask(scope: ModalScope, c: ReadContext, layerId: number, layerName: string, hasInit: boolean): Promise<Gray8> {
  const name = c.layers.find((l) => l.id === layerId)?.name ?? layerName;
  const read = await scope.readLayerMask(c.doc.id, layerId, c.plan.region);
  if (!read) throw new UserError(`The style reference layer "${name}" has no layer mask: add one (Layer › Layer Mask), paint white where the reference should act, or turn "only where its layer mask is white" off.`);
  const mask = regionalMask(read.mask, read.doc, c.plan.region, referenceMaskSize(hasInit, c.plan.read, c.plan.generation));
  if (!selectsSomething(mask)) throw new UserError(`The layer mask of "${name}" is black over the whole generated area: the reference would act nowhere.`);
  return mask;
}

/** A regional image prompt from a saved selection (alpha channel), mapped like the layer mask. */
async function readChannelMask(scope: ModalScope, c: ReadContext, channel: string, hasInit: boolean): Promise<Gray8> {
  const read = await scope.readChannelMask(c.doc.id, channel, c.plan.region);
  const mask = read ? regionalMask(read.mask, read.doc, c.plan.region, referenceMaskSize(hasInit, c.plan.read, c.plan.generation)) : null;
  if (!mask || !selectsSomething(mask)) throw new UserError(`The saved selection "${channel}" selects nothing in the generated area (or is not in this document): the reference would act nowhere.`);
  return mask;
}

async function readControl(scope: ModalScope, c: ReadContext, notes: string[]): Promise<Rgba8 | undefined> {
  const ctl = c.settings.control;
  if (ctl.layerId === null) return undefined;
  const layer = c.layers.find((l) => l.id === ctl.layerId);
  if (!layer) throw new UserError(`The control layer "${ctl.layerName}" is not in this document: pick it again.`);
  const { region, read } = c.plan;
  const px = await scope.readLayer(c.doc.id, layer.id, region, read);
  const control = composeControl(px?.image ?? null, px?.doc ?? null, region, read);
  if (!isBlank(control)) return control;
  notes.push(`The control layer "${layer.name}" has nothing inside the generated area; it was left out.`);
  return undefined;
}

/** A file reference from an earlier session: the daemon may still hold it under its hash. */
function referenceByHash(job: JobMessage, inputs: JobInputs, s: GenerationSettings, repeat?: RepeatSource): void {
  if (job.references || s.reference.source !== 'file') return;
  const hash = repeat?.record.references[0]?.hash;
  if (!hash) {
    if (s.reference.fileName) throw new UserError(`Pick the reference image "${s.reference.fileName}" again (files are not kept between sessions).`);
    return;
  }
  // A recorded regional mask is still on the daemon too: same area, same sizes, so it goes by hash as well.
  const mask = s.reference.maskChannel ? repeat?.record.references[0]?.mask : undefined;
  job.references = [{ source: 'hash', hash, adapter: s.adapter, scale: s.referenceScale, preset: s.preset, ...(mask ? { mask } : {}) }];
  inputs.references = [undefined];
}

function alphaOf(img: Rgba8): Gray8 {
  const out = new Uint8Array(img.width * img.height);
  for (let i = 0; i < out.length; i++) out[i] = img.data[i * 4 + 3];
  return { width: img.width, height: img.height, data: out };
}
