/**
 * The panel's brain, without DOM: settings (saved on every change), one generation at a time
 * (read the document in a modal scope → send → wait, out of modal → insert in one history step),
 * surviving dropped connections (resume, or resend when the daemon never got the job), the last results
 * for re-applying, and regenerate / variation of a selected generated layer from its stored record.
 */
import { BridgeError, type BridgeClient, type JobHandlers, type JobInputs, type JobOutcome } from '../../../shared/protocol/client.ts';
import type { AdapterKind, JobMessage } from '../../../shared/protocol/messages.ts';
import { validateJob } from '../../../shared/protocol/validate.ts';
import type { BridgeConnection } from '../../../shared/plugin/connection.ts';
import { newJobId, randomSeed } from '../../../shared/plugin/job.ts';
import { composeControl, isBlank } from '../../../shared/plugin/pose-composite.ts';
import {
  buildPsJob, installedAdapters, parsePsLayerName, parsePsRecord, psLayerName, psRecord, repeatFromRecord, sniffImageFormat,
  type PsCapture, type PsRecord, type PsTarget, type RepeatKind,
} from '../../../shared/plugin/ps-job.ts';
import { DEFAULT_PS_SETTINGS, parsePsSettings, type PsSettings } from '../../../shared/plugin/ps-settings.ts';
import { blankRgba, drawRgba, resizeGray, resizeRgba, type Gray8, type Rgba8 } from '../../../shared/plugin/raster.ts';
import { chooseRegion, fitWithin, intersectRect, placeInRead, planSizes, type Rect, type SizePlan } from '../../../shared/plugin/region.ts';
import { maskStats, selectionToMask } from '../../../shared/plugin/selection-mask.ts';
import type { DocInfo, LayerInfo, ModalScope, PickedFile, PsHost, SelectionRead } from './host.ts';

export const HISTORY_NAME = 'Generate with IP-Adapter';
export const SETTINGS_KEY = 'ipa.photoshop.settings';
export const PENDING_KEY = 'ipa.photoshop.pending';
const MAX_RESULTS = 8;
const THUMB_SIDE = 96;
/** References only feed CLIP (224²) and face detection: 1024 px a side is plenty (the daemon shrinks to that too). */
const REFERENCE_SIDE = 1024;

/** A problem the user can fix; shown as is. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

export type JobPhase = 'reading' | 'sending' | 'queued' | 'running' | 'reconnecting' | 'inserting';

export interface JobView {
  jobId: string | null;
  phase: JobPhase;
  step: number;
  total: number;
  etaMs: number;
  /** Jobs ahead in the daemon's queue. */
  position: number;
  previewUrl: string | null;
}

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
  record: PsRecord;
  /** The layer it became, if inserted. */
  layerId: number | null;
}

export interface Notice {
  kind: 'info' | 'warn' | 'error';
  text: string;
}

export interface ControllerOptions {
  host: PsHost;
  connection: BridgeConnection;
  random?: () => number;
  now?: () => number;
}

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

interface Repeat {
  layerId: number;
  record: PsRecord;
}

interface RunRequest {
  settings: PsSettings;
  docId: number;
  seed: number;
  variation?: { seed: number; strength: number };
  repeat?: Repeat;
}

interface PendingJob {
  jobId: string;
  docId: number;
  region: Rect;
  prompt: string;
  seed: number;
  at: number;
}

export class PanelController {
  settings: PsSettings;
  job: JobView | null = null;
  results: ResultItem[] = [];
  notice: Notice | null = null;
  /** The image file chosen as style reference (kept for this session only). */
  referenceFile: PickedFile | null = null;
  private cancelRequested = false;
  /** Wakes a job waiting for the connection to come back when the user cancels. */
  private wakeOnCancel: (() => void) | null = null;
  private readonly listeners = new Set<() => void>();
  private readonly host: PsHost;
  private readonly connection: BridgeConnection;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(o: ControllerOptions) {
    this.host = o.host;
    this.connection = o.connection;
    this.random = o.random ?? Math.random;
    this.now = o.now ?? Date.now;
    this.settings = this.loadSettings();
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(): void {
    for (const fn of [...this.listeners]) fn();
  }

  private loadSettings(): PsSettings {
    const raw = this.host.load(SETTINGS_KEY);
    if (!raw) return { ...DEFAULT_PS_SETTINGS };
    try {
      return parsePsSettings(JSON.parse(raw));
    } catch {
      return { ...DEFAULT_PS_SETTINGS }; // damaged: start fresh rather than fail
    }
  }

  /** Applies a change, validates it field by field and saves at once (settings are never lost). */
  update(patch: Partial<PsSettings>): void {
    this.settings = parsePsSettings({ ...this.settings, ...patch });
    this.host.save(SETTINGS_KEY, JSON.stringify(this.settings));
    this.emit();
  }

  setNotice(n: Notice | null): void {
    this.notice = n;
    this.emit();
  }

  /** Adapter kinds worth offering: those with a model on the daemon, else everything it supports. */
  adapters(): AdapterKind[] {
    const caps = this.connection.welcome?.capabilities;
    if (!caps) return ['base'];
    const found = installedAdapters(caps);
    return found.length ? found : ['base'];
  }

  get busy(): boolean {
    return this.job !== null;
  }

  // ---------------------------------------------------------------- user actions

  async generate(): Promise<void> {
    const doc = this.host.activeDocument();
    if (!doc) return this.setNotice({ kind: 'warn', text: 'Open a document first.' });
    const s = this.settings;
    const seed = s.seed ?? randomSeed(this.random);
    await this.run({ settings: s, docId: doc.id, seed });
  }

  async repeatSelected(kind: RepeatKind): Promise<void> {
    const found = await this.selectedRecord();
    if (!found) return;
    const r = repeatFromRecord(found.record, kind, this.random);
    await this.run({ settings: r.settings, docId: found.doc.id, seed: r.seed, variation: r.variation, repeat: { layerId: found.layer.id, record: found.record } });
  }

  /** Fills the panel from the selected generated layer (seed locked to its seed). */
  async loadFromSelected(): Promise<void> {
    const found = await this.selectedRecord();
    if (!found) return;
    this.update({ ...found.record.settings, seed: found.record.seed, lastSeed: found.record.seed });
    this.setNotice({ kind: 'info', text: `Settings loaded from "${found.layer.name}".` });
  }

  cancel(): void {
    if (!this.job || this.cancelRequested) return;
    this.cancelRequested = true;
    const client = this.connection.client;
    if (this.job.jobId && client) client.cancel(this.job.jobId);
    this.wakeOnCancel?.();
    this.emit();
  }

  async pickReferenceFile(): Promise<void> {
    try {
      const f = await this.host.pickImageFile();
      if (!f) return;
      if (!sniffImageFormat(f.bytes)) return this.setNotice({ kind: 'error', text: `"${f.name}" is not a PNG or JPEG image.` });
      this.referenceFile = f;
      this.update({ reference: { ...this.settings.reference, source: 'file', fileName: f.name } });
    } catch (e) {
      this.setNotice({ kind: 'error', text: errorText(e) });
    }
  }

  /** "Use current layer" for the style reference or the control layer. */
  useCurrentLayer(role: 'reference' | 'control'): void {
    const doc = this.host.activeDocument();
    const id = doc ? this.host.activeLayerIds(doc.id)[0] : undefined;
    const layer = doc && id !== undefined ? this.host.layers(doc.id).find((l) => l.id === id) : undefined;
    if (!doc || !layer) return this.setNotice({ kind: 'warn', text: 'Select a layer in the Layers panel first.' });
    if (role === 'reference') this.update({ reference: { ...this.settings.reference, source: 'layer', layerId: layer.id, layerName: layer.name } });
    else this.update({ control: { ...this.settings.control, layerId: layer.id, layerName: layer.name } });
  }

  /** Inserts a kept result again: at its place in its document, else into the current selection or canvas. */
  async reapply(id: string): Promise<void> {
    const item = this.results.find((r) => r.id === id);
    const doc = this.host.activeDocument();
    if (!item || !doc) return this.setNotice({ kind: 'warn', text: 'Open a document to apply the result to.' });
    const problem = documentProblem(doc);
    if (problem) return this.setNotice({ kind: 'error', text: problem });
    try {
      let region = item.region;
      let alpha = item.alpha;
      const canvas = { x: 0, y: 0, width: doc.width, height: doc.height };
      const sameDoc = doc.id === item.docId && intersectRect(region, canvas) !== null;
      if (!sameDoc) {
        const sel = await this.host.selectionBounds(doc.id);
        region = (sel && intersectRect(sel, canvas)) ?? canvas;
        alpha = item.alpha ? resizeGray(item.alpha, region.width, region.height) : null;
      }
      const above = sameDoc && item.layerId !== null && this.host.layers(doc.id).some((l) => l.id === item.layerId) ? item.layerId : (this.host.activeLayerIds(doc.id)[0] ?? null);
      const layerId = await this.insert(doc.id, above, item.image, alpha, region, item.record);
      if (sameDoc) item.layerId = layerId;
      this.setNotice({ kind: 'info', text: `Applied seed ${item.seed}.` });
    } catch (e) {
      this.setNotice({ kind: 'error', text: errorText(e) });
    }
  }

  /** After (re)connecting: jobs a previous panel session left running come back as results. */
  async resumePending(): Promise<void> {
    const client = this.connection.client;
    if (!client || this.job) return;
    const pending = this.loadPending();
    for (const p of pending) {
      try {
        const out = await client.resume(p.jobId);
        // The panel's settings may have changed since: the daemon's metadata says what this job was.
        const m = out.result.metadata.params;
        const settings = parsePsSettings({ ...this.settings, prompt: m.prompt, negativePrompt: m.negativePrompt, steps: m.steps, sampler: m.sampler, guidance: m.guidance, strength: m.strength, seed: m.seed });
        const read = { width: out.images[0]?.descriptor.width ?? p.region.width, height: out.images[0]?.descriptor.height ?? p.region.height };
        const item = this.resultFrom(out, p.jobId, { mode: 'canvas', region: p.region, read, sourceLayerId: null, documentTitle: '' }, settings, null, this.host.document(p.docId) ? p.docId : null);
        this.addResult(item);
        client.release(p.jobId);
        this.setNotice({ kind: 'info', text: `A result from before the panel restarted (seed ${item.seed}) is ready: click its thumbnail to apply it.` });
      } catch {
        // unknown to the daemon (restarted or expired): nothing to recover
      }
      this.dropPending(p.jobId);
    }
  }

  // ---------------------------------------------------------------- one generation

  private async run(r: RunRequest): Promise<void> {
    if (this.job) return this.setNotice({ kind: 'warn', text: 'A generation is already running.' });
    const client = this.connection.state.phase === 'connected' ? this.connection.client : null;
    if (!client?.welcome) return this.setNotice({ kind: 'warn', text: 'Not connected to the ipa-bridge daemon yet.' });
    const doc = this.host.document(r.docId);
    if (!doc) return this.setNotice({ kind: 'warn', text: 'The document was closed.' });
    const problem = documentProblem(doc);
    if (problem) return this.setNotice({ kind: 'error', text: problem });
    const caps = client.welcome.capabilities;
    const s = r.settings;
    this.cancelRequested = false;
    this.notice = null;
    this.job = { jobId: null, phase: 'reading', step: 0, total: s.steps, etaMs: 0, position: 0, previewUrl: null };
    this.emit();
    let jobId: string | null = null;
    try {
      const canvas = { x: 0, y: 0, width: doc.width, height: doc.height };
      let region: Rect;
      if (r.repeat) {
        const clipped = intersectRect(r.repeat.record.target.region, canvas);
        if (!clipped) throw new UserError('The generated layer\'s area is outside the canvas now.');
        region = clipped;
      } else {
        const choice = chooseRegion(s.mode, doc, await this.host.selectionBounds(doc.id), s.padding);
        if (!choice.ok) throw new UserError(choice.reason);
        region = choice.region;
      }
      const plan = planSizes(region, Math.min(s.size, caps.maxPixels), caps.maxPixels);
      const layers = this.host.layers(doc.id);
      const sourceLayerId = r.repeat ? r.repeat.layerId : (this.host.activeLayerIds(doc.id)[0] ?? layers[0]?.id ?? null);

      // Read everything in one modal scope, then leave it before any network wait.
      const { capture, alpha, notes } = await this.host.modal('IP-Adapter: reading the document', (scope) => this.capture(scope, doc, layers, plan, s, sourceLayerId, r.repeat));
      if (this.cancelRequested) throw new BridgeError('cancelled', 'cancelled');

      jobId = newJobId('ps', this.now(), this.random);
      const built = buildPsJob(s, capture, { jobId, seed: r.seed, variation: r.variation, adapters: this.adapters() });
      this.referenceByHash(built.job, built.inputs, s, r.repeat);
      const check = validateJob(built.job, { maxPixels: caps.maxPixels, maxBatch: caps.maxBatch });
      if (!check.ok) throw new UserError(`${check.error.message}${check.error.field ? ` (${check.error.field})` : ''}`);
      if (!r.repeat) this.update({ lastSeed: r.seed });
      if (notes.length) this.notice = { kind: 'warn', text: notes.join(' ') };

      this.savePending({ jobId, docId: doc.id, region, prompt: s.prompt, seed: r.seed, at: this.now() });
      const outcome = await this.submit(client, built.job, built.inputs);
      if (outcome.result.jobId !== jobId) this.dropPending(jobId); // it was resent under a new id
      jobId = outcome.result.jobId;

      this.setPhase('inserting');
      const target: PsTarget = { mode: s.mode, region, read: plan.read, sourceLayerId, documentTitle: doc.title };
      const item = this.resultFrom(outcome, jobId, target, s, alpha, doc.id, r.variation);
      this.addResult(item);
      if (this.host.document(doc.id)) {
        item.layerId = await this.insert(doc.id, sourceLayerId, item.image, alpha, region, item.record);
      } else {
        this.notice = { kind: 'warn', text: 'The document was closed while generating: the result is kept below; click it to apply it to another document.' };
      }
      this.connection.client?.release(jobId);
      this.dropPending(jobId);
    } catch (e) {
      if (e instanceof BridgeError && e.code === 'cancelled') {
        this.notice = { kind: 'info', text: 'Cancelled.' };
        if (jobId) this.dropPending(jobId);
      } else {
        this.notice = { kind: 'error', text: errorText(e) };
        if (jobId && !(e instanceof BridgeError && e.code === 'closed')) this.dropPending(jobId);
      }
    } finally {
      if (this.job?.previewUrl) this.host.releaseImageUrl(this.job.previewUrl);
      this.job = null;
      this.emit();
    }
  }

  /** Everything a job needs from the document. Runs inside a modal scope: no network here. */
  private async capture(scope: ModalScope, doc: DocInfo, layers: LayerInfo[], plan: SizePlan, s: PsSettings, sourceLayerId: number | null, repeat?: Repeat): Promise<{ capture: PsCapture; alpha: Gray8 | null; notes: string[] }> {
    const { region, read } = plan;
    const capture: PsCapture = { plan };
    const notes: string[] = [];
    let alpha: Gray8 | null = null;
    const byId = (id: number | null): LayerInfo | undefined => (id === null ? undefined : layers.find((l) => l.id === id));

    if (s.mode !== 'canvas') {
      // A regenerated layer must not see itself: it is hidden for the read (and the change rolled back).
      const px = s.sample === 'layer' && sourceLayerId !== null && !repeat
        ? await scope.readLayer(doc.id, sourceLayerId, region, read)
        : await scope.readComposite(doc.id, region, read, repeat ? [repeat.layerId] : []);
      const init = blankRgba(read.width, read.height);
      if (px) {
        drawRgba(init, px.image, placeInRead(px.doc, region, read));
        if (px.colorNote) notes.push(px.colorNote);
      }
      capture.init = init;
    }

    if (s.mode === 'inpaint') {
      let sel: SelectionRead | null;
      if (repeat) {
        // The original selection is gone after a reopen; the generated layer's transparency is that selection.
        const lr = await scope.readLayer(doc.id, repeat.layerId, region, null);
        sel = lr ? { mask: alphaOf(lr.image), doc: lr.doc } : null;
      } else {
        sel = await scope.readSelection(doc.id, region);
      }
      if (!sel) throw new UserError('Selection fill needs a selection: select the area to repaint first.');
      capture.mask = selectionToMask(sel.mask, sel.doc, region, read);
      if (!maskStats(capture.mask).bounds) throw new UserError('The selection is empty inside the area to fill.');
      alpha = selectionToMask(sel.mask, sel.doc, region, { width: region.width, height: region.height });
    }

    if (s.reference.source === 'layer' && s.reference.layerId !== null) {
      const layer = byId(s.reference.layerId);
      if (!layer) throw new UserError(`The style reference layer "${s.reference.layerName}" is not in this document: pick it again.`);
      if (!layer.bounds) throw new UserError(`The style reference layer "${layer.name}" is empty.`);
      const px = await scope.readLayer(doc.id, layer.id, null, fitWithin(layer.bounds, REFERENCE_SIDE, REFERENCE_SIDE * REFERENCE_SIDE));
      if (!px) throw new UserError(`The style reference layer "${layer.name}" is empty.`);
      capture.reference = { image: px.image };
    } else if (s.reference.source === 'file' && this.referenceFile && this.referenceFile.name === s.reference.fileName) {
      const format = sniffImageFormat(this.referenceFile.bytes);
      if (format) capture.reference = { encoded: this.referenceFile.bytes, format };
    }

    if (s.control.layerId !== null) {
      const layer = byId(s.control.layerId);
      if (!layer) throw new UserError(`The control layer "${s.control.layerName}" is not in this document: pick it again.`);
      const px = await scope.readLayer(doc.id, layer.id, region, read);
      const control = composeControl(px?.image ?? null, px?.doc ?? null, region, read);
      if (isBlank(control)) notes.push(`The control layer "${layer.name}" has nothing inside the generated area; it was left out.`);
      else capture.control = control;
    }
    return { capture, alpha, notes };
  }

  /** A file reference from an earlier session: the daemon may still hold it under its hash. */
  private referenceByHash(job: JobMessage, inputs: JobInputs, s: PsSettings, repeat?: Repeat): void {
    if (job.references || s.reference.source !== 'file') return;
    const hash = repeat?.record.references[0]?.hash;
    if (!hash) {
      if (s.reference.fileName) throw new UserError(`Pick the reference image "${s.reference.fileName}" again (files are not kept between sessions).`);
      return;
    }
    job.references = [{ source: 'hash', hash, adapter: s.adapter, scale: s.referenceScale, preset: s.preset }];
    inputs.references = [undefined];
  }

  /** Sends and waits, across dropped connections: resume the job, or resend it if the daemon never got it. */
  private async submit(first: BridgeClient, job: JobMessage, inputs: JobInputs): Promise<JobOutcome> {
    let client = first;
    let resuming = false;
    for (let attempt = 0; ; attempt++) {
      const handlers = this.handlers(job.jobId);
      try {
        this.setPhase(resuming ? 'queued' : 'sending', job.jobId);
        return resuming ? await client.resume(job.jobId, handlers) : await client.submit(job, inputs, handlers);
      } catch (e) {
        if (!(e instanceof BridgeError) || attempt >= 20) throw e;
        if (e.code === 'closed') {
          this.setPhase('reconnecting', job.jobId);
          const next = this.cancelRequested ? null : await Promise.race([
            this.connection.whenConnected(),
            new Promise<null>((resolve) => (this.wakeOnCancel = () => resolve(null))),
          ]);
          this.wakeOnCancel = null;
          if (!next || this.cancelRequested) {
            // The daemon cancels a job nobody watches after its grace period; tell it now if we can.
            (next ?? this.connection.client)?.cancel(job.jobId);
            throw new BridgeError('cancelled', 'cancelled');
          }
          client = next;
          resuming = true;
          continue;
        }
        if (e.code === 'blob-missing' && job.references?.[0]?.source === 'hash' && !inputs.references?.[0]) {
          throw new UserError(`The bridge no longer has the reference image "${this.settings.reference.fileName}": pick the file again.`);
        }
        if (e.code === 'unknown-job' && resuming) {
          // The daemon never got the whole job (or restarted): send it again under a new id.
          job = { ...job, jobId: newJobId('ps', this.now(), this.random) };
          resuming = false;
          continue;
        }
        throw e;
      }
    }
  }

  private handlers(jobId: string): JobHandlers {
    const mine = (): JobView | null => (this.job && this.job.jobId === jobId ? this.job : null);
    return {
      onAccepted: (m) => {
        const j = mine();
        if (j) Object.assign(j, { phase: m.position > 0 ? 'queued' : j.phase === 'running' ? 'running' : 'queued', position: m.position });
        this.emit();
      },
      onQueued: (m) => {
        const j = mine();
        if (j) j.position = m.position;
        this.emit();
      },
      onStarted: (m) => {
        const j = mine();
        if (j) Object.assign(j, { phase: 'running', total: m.steps, position: 0 });
        this.emit();
      },
      onProgress: (m) => {
        const j = mine();
        if (j) Object.assign(j, { phase: 'running', step: m.step, total: m.total, etaMs: m.etaMs });
        this.emit();
      },
      onPreview: (p) => {
        const j = mine();
        if (!j) return;
        if (j.previewUrl) this.host.releaseImageUrl(j.previewUrl);
        j.previewUrl = this.host.imageUrl({ width: p.width, height: p.height, data: p.data });
        this.emit();
      },
    };
  }

  private setPhase(phase: JobPhase, jobId?: string): void {
    if (!this.job) return;
    this.job.phase = phase;
    if (jobId) this.job.jobId = jobId;
    this.emit();
  }

  private resultFrom(out: JobOutcome, jobId: string, target: PsTarget, s: PsSettings, alpha: Gray8 | null, docId: number | null, variation?: { seed: number; strength: number }): ResultItem {
    const first = out.images[0];
    if (!first) throw new Error('the daemon returned no image');
    const { width, height, format } = first.descriptor;
    if (format !== 'raw-rgba8') throw new Error(`expected a raw RGBA result, got ${format}`);
    const image: Rgba8 = { width, height, data: first.data };
    const record = psRecord(s, out.result.metadata, jobId, target, new Date(this.now()).toISOString(), variation);
    const k = Math.min(1, THUMB_SIDE * 2 / Math.max(width, height)); // 2x for sharp thumbnails on HiDPI
    const thumb = resizeRgba(image, Math.max(1, Math.round(width * k)), Math.max(1, Math.round(height * k)));
    return { id: jobId, seed: record.seed, prompt: s.prompt, thumbUrl: this.host.imageUrl(thumb), image, alpha, docId, region: target.region, record, layerId: null };
  }

  private addResult(item: ResultItem): void {
    this.results.unshift(item);
    for (const old of this.results.splice(MAX_RESULTS)) this.host.releaseImageUrl(old.thumbUrl);
    this.emit();
  }

  /** The result scaled back to the region with the selection as transparency, as one history step. */
  private async insert(docId: number, aboveLayerId: number | null, image: Rgba8, alpha: Gray8 | null, region: Rect, record: PsRecord): Promise<number> {
    return this.host.modal('IP-Adapter: adding the layer', (scope) => scope.insertLayer({
      docId, aboveLayerId, name: psLayerName(record.seed, record.settings.prompt), image, area: region, alpha, record: JSON.stringify(record),
    }), { docId, name: HISTORY_NAME });
  }

  private async selectedRecord(): Promise<{ doc: DocInfo; layer: LayerInfo; record: PsRecord } | null> {
    const doc = this.host.activeDocument();
    if (!doc) {
      this.setNotice({ kind: 'warn', text: 'Open a document first.' });
      return null;
    }
    const id = this.host.activeLayerIds(doc.id)[0];
    const layer = this.host.layers(doc.id).find((l) => l.id === id);
    if (!layer) {
      this.setNotice({ kind: 'warn', text: 'Select a generated layer ([IPA] …) in the Layers panel.' });
      return null;
    }
    let record: PsRecord | null = null;
    try {
      const json = await this.host.readLayerRecord(doc.id, layer.id);
      record = json ? parsePsRecord(JSON.parse(json)) : null;
    } catch {
      record = null;
    }
    if (!record) {
      const named = parsePsLayerName(layer.name);
      this.setNotice({
        kind: 'warn',
        text: named
          ? `"${layer.name}" has no stored settings (its metadata was removed). Its name gives seed ${named.seed}: lock that seed and Generate to get close.`
          : `"${layer.name}" was not generated by this panel: select an [IPA] layer.`,
      });
      return null;
    }
    return { doc, layer, record };
  }

  // ---------------------------------------------------------------- jobs outliving the panel

  private loadPending(): PendingJob[] {
    try {
      const v: unknown = JSON.parse(this.host.load(PENDING_KEY) ?? '[]');
      return Array.isArray(v) ? v.filter((p): p is PendingJob => typeof p === 'object' && p !== null && typeof (p as PendingJob).jobId === 'string') : [];
    } catch {
      return [];
    }
  }

  private savePending(p: PendingJob): void {
    const all = this.loadPending().filter((x) => x.jobId !== p.jobId && this.now() - x.at < 60 * 60 * 1000);
    this.host.save(PENDING_KEY, JSON.stringify([...all, p]));
  }

  private dropPending(jobId: string): void {
    const all = this.loadPending();
    const rest = all.filter((x) => x.jobId !== jobId);
    if (rest.length !== all.length) this.host.save(PENDING_KEY, rest.length ? JSON.stringify(rest) : null);
  }
}

function alphaOf(img: Rgba8): Gray8 {
  const out = new Uint8Array(img.width * img.height);
  for (let i = 0; i < out.length; i++) out[i] = img.data[i * 4 + 3];
  return { width: img.width, height: img.height, data: out };
}

export function errorText(e: unknown): string {
  if (e instanceof UserError) return e.message;
  if (e instanceof BridgeError) {
    switch (e.code) {
      case 'closed': return 'The connection to the bridge closed and the job could not be recovered. Generate again.';
      case 'engine-unavailable': return `The bridge has no working engine: ${e.message}`;
      case 'queue-full': case 'rate-limited': return `The bridge is busy: ${e.message}`;
      default: return e.message;
    }
  }
  return e instanceof Error ? e.message : String(e);
}
