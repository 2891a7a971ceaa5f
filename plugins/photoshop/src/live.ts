/**
 * Live mode in Photoshop: host glue around the shared LiveController (shared/plugin/live.ts), no DOM.
 *
 * - Edits come from the host's notifications (host.onDocumentEdit: pixels, selection, active layer of
 *   the live document); the panel's own reads and writes are filtered out by the host.
 * - Each job is the panel's settings as img2img (the whole canvas becomes img2img; a selection fill
 *   stays one) at the live strength, with the installed "Live" preset's model, steps, sampler and CFG
 *   and a TAESD draft decode; the seed is fixed while live.
 * - A result is shown in the panel; with "live layer" on it is also written into one layer, replaced in
 *   place on every result (a Photoshop history state each time: UXP writes pixels only through history).
 * - Apply makes the latest result a real result in one history step: the live layer is renamed and gets
 *   its record, or (no live layer) a new layer is inserted above the source, as Generate does.
 */
import type { JobOutcome } from '../../../shared/protocol/client.ts';
import type { JobMessage } from '../../../shared/protocol/messages.ts';
import type { BridgeConnection } from '../../../shared/plugin/connection.ts';
import { errorText } from '../../../shared/plugin/errors.ts';
import { randomSeed } from '../../../shared/plugin/job.ts';
import { LiveController, type LivePhase, type LiveStats } from '../../../shared/plugin/live.ts';
import { resultName } from '../../../shared/plugin/naming.ts';
import { createRecord, type GenerationRecord } from '../../../shared/plugin/record.ts';
import { applySpeedPreset, type GenerationSettings } from '../../../shared/plugin/settings.ts';
import { presetRecipe, stepsForStrength } from '../../../shared/plugin/speed-presets.ts';
import { captureDocument, documentProblem, type DocumentCapture } from './capture.ts';
import type { PanelController } from './controller.ts';
import type { DocInfo, PsHost } from './host.ts';
import { addResult, HISTORY_NAME, insertResult, resultImage, resultItem } from './results.ts';

export const LIVE_LAYER_NAME = '[IPA live]';
export const LIVE_HISTORY_NAME = 'IP-Adapter live preview';
/** Quiet time after an edit before a live job goes out: a brush stroke's events come in bursts. */
export const LIVE_DEBOUNCE_MS = 400;

export interface LiveView {
  on: boolean;
  phase: LivePhase;
  step: number;
  total: number;
  /** The running job's latest step preview, else the latest result. */
  imageUrl: string | null;
  seed: number;
  /** What live mode runs ("LCM-LoRA (…), 4 steps"), and the preset's note when no few-step model is installed. */
  model: string;
  note: string | null;
  canApply: boolean;
  stats: Readonly<LiveStats>;
}

interface LastResult {
  outcome: JobOutcome;
  job: JobMessage;
  cap: DocumentCapture;
  settings: GenerationSettings;
}

export interface LiveOptions {
  random?: () => number;
  now?: () => number;
  debounceMs?: number;
}

export class PsLiveMode {
  readonly view: LiveView;
  private readonly live: LiveController;
  private doc: DocInfo | null = null;
  private liveLayerId: number | null = null;
  private last: LastResult | null = null;
  /** Captures by job id, until their result comes (the show port gets only the outcome and job). */
  private readonly captures = new Map<string, { cap: DocumentCapture; settings: GenerationSettings }>();
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(private readonly ctl: PanelController, private readonly host: PsHost, private readonly connection: BridgeConnection, o: LiveOptions = {}) {
    this.random = o.random ?? Math.random;
    this.now = o.now ?? Date.now;
    this.live = new LiveController(
      {
        connection, idPrefix: 'pslive', random: this.random, now: this.now, debounceMs: o.debounceMs ?? LIVE_DEBOUNCE_MS,
        setTimer: (fn, ms) => setTimeout(fn, ms), clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
      },
      { capture: (jobId, caps, seed) => this.capture(jobId, caps.models, seed), show: (outcome, job) => this.show(outcome, job) },
      {
        phase: (p, d) => this.set({ phase: p, step: d.step, total: d.total || this.view.total }),
        preview: (img) => this.setImage(this.host.imageUrl(img)),
        error: (e) => this.set({ note: errorText(e) }),
      },
    );
    this.view = { on: false, phase: 'off', step: 0, total: 0, imageUrl: null, seed: 0, model: '', note: null, canApply: false, stats: this.live.stats };
    host.onDocumentEdit(() => {
      // Only the live document's edits count (another document's do not change this picture).
      const active = this.host.activeDocument();
      if (this.view.on && this.doc && active?.id === this.doc.id) this.live.edit();
    });
  }

  private readonly listeners = new Set<() => void>();

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private set(patch: Partial<LiveView>): void {
    Object.assign(this.view, patch);
    for (const fn of [...this.listeners]) fn();
  }

  private setImage(url: string): void {
    if (this.view.imageUrl) this.host.releaseImageUrl(this.view.imageUrl);
    this.set({ imageUrl: url });
  }

  /** Live on: the active document, a seed fixed until live is switched off, a first job at once. */
  start(): void {
    const doc = this.host.activeDocument();
    if (!doc) return this.set({ note: 'Open a document first.' });
    const problem = documentProblem(doc);
    if (problem) return this.set({ note: problem });
    this.doc = doc;
    this.liveLayerId = null;
    this.last = null;
    const seed = this.ctl.settings.seed ?? randomSeed(this.random);
    this.set({ on: true, note: null, seed, canApply: false });
    this.live.start(seed);
  }

  stop(): void {
    this.live.stop();
    this.captures.clear();
    this.set({ on: false, phase: 'off' });
  }

  /** A change of the panel's settings (prompt, strength…) is an edit too. */
  settingsChanged(): void {
    if (this.view.on) this.live.edit();
  }

  /** The settings of a live job: img2img at the live strength with the installed Live preset. */
  private liveSettings(models: Parameters<typeof presetRecipe>[1]): GenerationSettings {
    const s = this.ctl.settings;
    const recipe = presetRecipe('live', models);
    const withModel = applySpeedPreset(s, recipe);
    this.set({ model: recipe.label, note: recipe.note ?? null });
    return {
      ...withModel, mode: s.mode === 'canvas' ? 'img2img' : s.mode, useInit: true, strength: s.liveStrength,
      steps: stepsForStrength(recipe.steps, s.liveStrength), preview: true, variations: 1, draftDecode: true,
    };
  }

  private async capture(jobId: string, models: Parameters<typeof presetRecipe>[1], seed: number): Promise<{ job: JobMessage; inputs: DocumentCapture['inputs'] } | null> {
    const doc = this.doc && this.host.document(this.doc.id);
    if (!doc) {
      this.stop();
      this.set({ note: 'The live document was closed.' });
      return null;
    }
    const caps = this.connection.welcome!.capabilities;
    const settings = this.liveSettings(models);
    const cap = await captureDocument(this.host, {
      settings, doc, seed, referenceFile: this.ctl.referenceFile, adapters: this.ctl.adapters(),
      hideLayerIds: this.liveLayerId !== null ? [this.liveLayerId] : [],
    }, jobId, caps);
    this.captures.clear();
    this.captures.set(cap.job.jobId, { cap, settings });
    return { job: cap.job, inputs: cap.inputs };
  }

  private async show(outcome: JobOutcome, job: JobMessage): Promise<void> {
    const c = this.captures.get(job.jobId);
    if (!c || !this.doc) return;
    this.last = { outcome, job, cap: c.cap, settings: c.settings };
    const image = resultImage(outcome);
    this.setImage(this.host.imageUrl(image));
    this.set({ canApply: true });
    if (!this.ctl.settings.liveLayer || !this.host.document(this.doc.id)) return;
    const docId = this.doc.id;
    const req = { docId, aboveLayerId: c.cap.sourceLayerId, name: LIVE_LAYER_NAME, image, area: c.cap.region, alpha: c.cap.alpha };
    const existing = this.liveLayerId !== null && this.host.layers(docId).some((l) => l.id === this.liveLayerId) ? this.liveLayerId : null;
    this.liveLayerId = await this.host.modal('IP-Adapter: live preview', async (scope) => {
      if (existing === null) return scope.insertLayer(req);
      await scope.updateLayer(existing, req);
      return existing;
    }, { docId, name: LIVE_HISTORY_NAME });
  }

  /** The latest live result becomes a real result (one history step) and joins the results list. */
  async apply(): Promise<void> {
    const last = this.last;
    const doc = this.doc;
    if (!last || !doc || !this.host.document(doc.id)) return this.set({ note: 'No live result to apply yet.' });
    try {
      const record: GenerationRecord = createRecord({
        settings: last.settings, meta: last.outcome.result.metadata, jobId: last.job.jobId, createdAt: new Date(this.now()).toISOString(),
        target: { mode: last.settings.mode, region: last.cap.region, read: last.cap.plan.read, sourceLayerId: last.cap.sourceLayerId, documentTitle: doc.title },
      });
      const item = resultItem(this.host, resultImage(last.outcome), record, { alpha: last.cap.alpha, docId: doc.id, region: last.cap.region });
      const liveLayer = this.liveLayerId !== null && this.host.layers(doc.id).some((l) => l.id === this.liveLayerId) ? this.liveLayerId : null;
      if (liveLayer !== null) {
        // The live layer holds exactly this result: it becomes the result layer, and the next live result starts a new one.
        await this.host.modal('IP-Adapter: applying the live result', (scope) => scope.finishLayer(doc.id, liveLayer, resultName(record.seed, record.settings.prompt), JSON.stringify(record)), { docId: doc.id, name: HISTORY_NAME });
        item.layerId = liveLayer;
        this.liveLayerId = null;
      } else {
        item.layerId = await insertResult(this.host, doc.id, last.cap.sourceLayerId, item);
      }
      addResult(this.host, this.ctl.results, item);
      this.set({ note: `Applied the live result (seed ${record.seed}).`, canApply: false });
      this.ctl.setNotice(null);
    } catch (e) {
      this.set({ note: errorText(e) });
    }
  }
}
