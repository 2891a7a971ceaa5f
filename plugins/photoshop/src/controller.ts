/**
 * The panel's brain, without DOM: settings (saved on every change), the user's actions, and one
 * generation at a time on the shared job lifecycle (shared/plugin/job-lifecycle.ts) with Photoshop's
 * ports — capture.ts reads the document in a modal scope, results.ts inserts in one history step, the
 * host's localStorage keeps pending jobs. Regenerate / variation of a selected generated layer work from
 * its stored record.
 */
import { BridgeError } from '../../../shared/protocol/client.ts';
import type { AdapterKind, JobMessage } from '../../../shared/protocol/messages.ts';
import type { JobOutcome } from '../../../shared/protocol/client.ts';
import type { BridgeConnection } from '../../../shared/plugin/connection.ts';
import { errorText, isCancelled, UserError } from '../../../shared/plugin/errors.ts';
import { randomSeed } from '../../../shared/plugin/job.ts';
import { JobLifecycle, type JobPhase, type JobProgress, type PreviewImage } from '../../../shared/plugin/job-lifecycle.ts';
import { parseResultName } from '../../../shared/plugin/naming.ts';
import { PendingJobs, type PendingJob } from '../../../shared/plugin/pending-jobs.ts';
import { installedAdapters, sniffImageFormat } from '../../../shared/plugin/ps-job.ts';
import { familyOffer, type FamilyOffer } from '../../../shared/plugin/families.ts';
import { resizeGray } from '../../../shared/plugin/raster.ts';
import { createRecord, parseRecord, repeatFromRecord, type GenerationRecord, type RepeatKind, type SeedVariation } from '../../../shared/plugin/record.ts';
import { intersectRect, type Rect } from '../../../shared/plugin/region.ts';
import { isRecord, parseSettings, PHOTOSHOP_DEFAULTS, type GenerationSettings } from '../../../shared/plugin/settings.ts';
import { captureDocument, documentProblem, type DocumentCapture, type RepeatSource } from './capture.ts';
import type { DocInfo, LayerInfo, PickedFile, PsHost } from './host.ts';
import { addResult, insertResult, resultImage, resultItem, type ResultItem } from './results.ts';

export type { JobPhase } from '../../../shared/plugin/job-lifecycle.ts';
export type { ResultItem } from './results.ts';

export const SETTINGS_KEY = 'ipa.photoshop.settings';
export const PENDING_KEY = 'ipa.photoshop.pending';

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

interface RunRequest {
  settings: GenerationSettings;
  docId: number;
  seed: number;
  variation?: SeedVariation;
  repeat?: RepeatSource;
}

export class PanelController {
  settings: GenerationSettings;
  job: JobView | null = null;
  results: ResultItem[] = [];
  notice: Notice | null = null;
  /** The image file chosen as style reference (kept for this session only). */
  referenceFile: PickedFile | null = null;
  private lifecycle: JobLifecycle | null = null;
  private readonly listeners = new Set<() => void>();
  private readonly host: PsHost;
  private readonly connection: BridgeConnection;
  private readonly pending: PendingJobs;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(o: ControllerOptions) {
    this.host = o.host;
    this.connection = o.connection;
    this.random = o.random ?? Math.random;
    this.now = o.now ?? Date.now;
    this.pending = new PendingJobs(o.host, PENDING_KEY, this.now);
    this.settings = this.loadSettings();
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(): void {
    for (const fn of [...this.listeners]) fn();
  }

  private loadSettings(): GenerationSettings {
    const raw = this.host.load(SETTINGS_KEY);
    if (!raw) return { ...PHOTOSHOP_DEFAULTS };
    try {
      return parseSettings(JSON.parse(raw), PHOTOSHOP_DEFAULTS);
    } catch {
      return { ...PHOTOSHOP_DEFAULTS }; // damaged: start fresh rather than fail
    }
  }

  /** Applies a change, validates it field by field and saves at once (settings are never lost). */
  update(patch: Partial<GenerationSettings>): void {
    // Steps, sampler or CFG changed by hand: the fields no longer are a speed preset's.
    const byHand = patch.speed === undefined && (['steps', 'sampler', 'guidance'] as const).some((k) => patch[k] !== undefined && patch[k] !== this.settings[k]);
    if (byHand) patch = { ...patch, speed: 'custom' };
    this.settings = parseSettings({ ...this.settings, ...patch }, PHOTOSHOP_DEFAULTS);
    this.host.save(SETTINGS_KEY, JSON.stringify(this.settings));
    this.emit();
  }

  setNotice(n: Notice | null): void {
    this.notice = n;
    this.emit();
  }

  /** Adapter kinds worth offering: those the chosen checkpoint's family has models for, else 'base'. */
  adapters(): AdapterKind[] {
    const caps = this.connection.welcome?.capabilities;
    if (!caps) return ['base'];
    const found = caps.families ? familyOffer(caps, this.settings.checkpoint).adapters : installedAdapters(caps);
    return found.length ? found : ['base'];
  }

  /** The chosen checkpoint's family and what its installed models allow; null before the handshake. */
  family(): FamilyOffer | null {
    const caps = this.connection.welcome?.capabilities;
    return caps ? familyOffer(caps, this.settings.checkpoint) : null;
  }

  get busy(): boolean {
    return this.job !== null;
  }

  // ---------------------------------------------------------------- user actions

  async generate(): Promise<void> {
    const doc = this.host.activeDocument();
    if (!doc) return this.setNotice({ kind: 'warn', text: 'Open a document first.' });
    const s = this.settings;
    await this.run({ settings: s, docId: doc.id, seed: s.seed ?? randomSeed(this.random) });
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
    if (!this.lifecycle || this.lifecycle.cancelled) return;
    this.lifecycle.cancel();
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
      const layerId = await insertResult(this.host, doc.id, above, { image: item.image, alpha, region, record: item.record });
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
    for (const { pending, outcome } of await this.pending.recover(client)) {
      try {
        const item = this.recoveredItem(pending, outcome);
        addResult(this.host, this.results, item);
        this.setNotice({ kind: 'info', text: `A result from before the panel restarted (seed ${item.seed}) is ready: click its thumbnail to apply it.` });
      } catch {
        // not an image this panel can use: nothing to recover
      }
    }
  }

  private recoveredItem(p: PendingJob, out: JobOutcome): ResultItem {
    const image = resultImage(out);
    const docId = typeof p.context.docId === 'number' ? p.context.docId : null;
    const region = pendingRegion(p.context.region) ?? { x: 0, y: 0, width: image.width, height: image.height };
    // The panel's settings may have changed since: the daemon's metadata says what this job was.
    const m = out.result.metadata.params;
    const settings = parseSettings({ ...this.settings, prompt: m.prompt, negativePrompt: m.negativePrompt, steps: m.steps, sampler: m.sampler, guidance: m.guidance, strength: m.strength, seed: m.seed }, PHOTOSHOP_DEFAULTS);
    const record = createRecord({
      settings, meta: out.result.metadata, jobId: p.jobId, createdAt: new Date(this.now()).toISOString(),
      target: { mode: 'canvas', region, read: { width: image.width, height: image.height }, sourceLayerId: null, documentTitle: '' },
    });
    return resultItem(this.host, image, record, { alpha: null, docId: docId !== null && this.host.document(docId) ? docId : null, region });
  }

  // ---------------------------------------------------------------- one generation

  /** Whether a generation can start now; says why not. */
  private canRun(r: RunRequest): DocInfo | null {
    if (this.job) return this.warn('A generation is already running.');
    const client = this.connection.state.phase === 'connected' ? this.connection.client : null;
    if (!client?.welcome) return this.warn('Not connected to the ipa-bridge daemon yet.');
    const doc = this.host.document(r.docId);
    if (!doc) return this.warn('The document was closed.');
    const problem = documentProblem(doc);
    if (problem) {
      this.setNotice({ kind: 'error', text: problem });
      return null;
    }
    return doc;
  }

  private warn(text: string): null {
    this.setNotice({ kind: 'warn', text });
    return null;
  }

  private async run(r: RunRequest): Promise<void> {
    const doc = this.canRun(r);
    if (!doc) return;
    const s = r.settings;
    const lifecycle = new JobLifecycle(
      { connection: this.connection, pending: this.pending, idPrefix: 'ps', random: this.random, now: this.now },
      { progress: (p) => this.onProgress(p), preview: (img) => this.onPreview(img) },
      s.steps,
    );
    this.lifecycle = lifecycle;
    this.notice = null;
    this.job = { jobId: null, phase: 'reading', step: 0, total: s.steps, etaMs: 0, position: 0, previewUrl: null };
    this.emit();
    const seen: { capture: DocumentCapture | null } = { capture: null };
    try {
      await lifecycle.run({
        capture: async (jobId, caps) => {
          const cap = await captureDocument(this.host, { settings: s, doc, seed: r.seed, variation: r.variation, repeat: r.repeat, referenceFile: this.referenceFile, adapters: this.adapters() }, jobId, caps);
          seen.capture = cap;
          if (!r.repeat) this.update({ lastSeed: r.seed });
          if (cap.notes.length) this.notice = { kind: 'warn', text: cap.notes.join(' ') };
          return { job: cap.job, inputs: cap.inputs, context: { docId: doc.id, region: cap.region, prompt: s.prompt, seed: r.seed } };
        },
        insert: (outcome, job) => this.insertOutcome(outcome, job, seen.capture!, doc, r),
      });
    } catch (e) {
      this.notice = isCancelled(e) ? { kind: 'info', text: 'Cancelled.' } : { kind: 'error', text: errorText(this.explain(e, seen.capture?.job)) };
    } finally {
      if (this.job?.previewUrl) this.host.releaseImageUrl(this.job.previewUrl);
      this.job = null;
      this.lifecycle = null;
      this.emit();
    }
  }

  /** A reference sent by hash that the daemon no longer holds: only a new pick of the file helps. */
  private explain(e: unknown, job: JobMessage | undefined): unknown {
    if (e instanceof BridgeError && e.code === 'blob-missing' && job?.references?.[0]?.source === 'hash') {
      return new UserError(`The bridge no longer has the reference image "${this.settings.reference.fileName}": pick the file again.`);
    }
    return e;
  }

  /** Photoshop's insert port: the result becomes an item in the list and a layer above its source. */
  private async insertOutcome(outcome: JobOutcome, job: JobMessage, cap: DocumentCapture, doc: DocInfo, r: RunRequest): Promise<void> {
    const s = r.settings;
    const record = createRecord({
      settings: s, meta: outcome.result.metadata, jobId: job.jobId, createdAt: new Date(this.now()).toISOString(), variation: r.variation,
      target: { mode: s.mode, region: cap.region, read: cap.plan.read, sourceLayerId: cap.sourceLayerId, documentTitle: doc.title },
    });
    const item = resultItem(this.host, resultImage(outcome), record, { alpha: cap.alpha, docId: doc.id, region: cap.region });
    addResult(this.host, this.results, item);
    this.emit();
    if (this.host.document(doc.id)) {
      item.layerId = await insertResult(this.host, doc.id, cap.sourceLayerId, item);
    } else {
      this.notice = { kind: 'warn', text: 'The document was closed while generating: the result is kept below; click it to apply it to another document.' };
    }
  }

  private onProgress(p: Readonly<JobProgress>): void {
    if (!this.job) return;
    Object.assign(this.job, { phase: p.phase, jobId: p.jobId, step: p.step, total: p.total, etaMs: p.etaMs, position: p.position });
    this.emit();
  }

  private onPreview(img: PreviewImage): void {
    if (!this.job) return;
    if (this.job.previewUrl) this.host.releaseImageUrl(this.job.previewUrl);
    this.job.previewUrl = this.host.imageUrl(img);
    this.emit();
  }

  private async selectedRecord(): Promise<{ doc: DocInfo; layer: LayerInfo; record: GenerationRecord } | null> {
    const doc = this.host.activeDocument();
    if (!doc) return this.warn('Open a document first.');
    const id = this.host.activeLayerIds(doc.id)[0];
    const layer = this.host.layers(doc.id).find((l) => l.id === id);
    if (!layer) return this.warn('Select a generated layer ([IPA] …) in the Layers panel.');
    let record: GenerationRecord | null = null;
    try {
      const json = await this.host.readLayerRecord(doc.id, layer.id);
      record = json ? parseRecord(JSON.parse(json)) : null;
    } catch {
      record = null;
    }
    if (record) return { doc, layer, record };
    const named = parseResultName(layer.name);
    return this.warn(named
      ? `"${layer.name}" has no stored settings (its metadata was removed). Its name gives seed ${named.seed}: lock that seed and Generate to get close.`
      : `"${layer.name}" was not generated by this panel: select an [IPA] layer.`);
  }
}

function pendingRegion(v: unknown): Rect | null {
  if (!isRecord(v)) return null;
  const { x, y, width, height } = v;
  return typeof x === 'number' && typeof y === 'number' && typeof width === 'number' && typeof height === 'number' && width > 0 && height > 0 ? { x, y, width, height } : null;
}
