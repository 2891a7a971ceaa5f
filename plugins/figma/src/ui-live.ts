/**
 * The speed preset picker and live mode in the Figma UI: host glue around the shared LiveController
 * (shared/plugin/live.ts).
 *
 * - Live on: the selected frame is watched by the sandbox (live-watch.ts: nodechange on its page) and
 *   exported for each job even when the selection moves inside it; the seed is fixed until Live is off.
 * - A job is img2img of the frame at the live strength with the installed "Live" preset and a TAESD
 *   draft decode; the marked style/pose nodes go along, by hash while unchanged.
 * - The result is shown in the panel only (Figma has no history-free way to show pixels on the
 *   canvas either); Apply places it like Generate does (fill or beside), one undo step.
 */
import { MAX_IMAGE_SIDE } from '../../../shared/plugin/budget.ts';
import { errorText } from '../../../shared/plugin/errors.ts';
import { buildJob, randomSeed } from '../../../shared/plugin/job.ts';
import { LiveController, type LivePhase } from '../../../shared/plugin/live.ts';
import { createRecord } from '../../../shared/plugin/record.ts';
import { applySpeedPreset, type GenerationSettings } from '../../../shared/plugin/settings.ts';
import { presetRecipe, SPEED_PRESET_LABELS, SPEED_PRESETS, stepsForStrength, type SpeedPreset } from '../../../shared/plugin/speed-presets.ts';
import type { JobOutcome } from '../../../shared/protocol/client.ts';
import { REFERENCE_MAX_SIDE } from '../../../shared/protocol/limits.ts';
import type { Capabilities, JobMessage } from '../../../shared/protocol/messages.ts';
import type { NodeSummary } from './messages.ts';
import { addRegionMasks, inputsOf } from './ui-run.ts';
import { $, type UiView } from './ui-view.ts';

export const LIVE_DEBOUNCE_MS = 400;

interface LiveResult {
  png: Uint8Array;
  width: number;
  height: number;
  job: JobMessage;
  outcome: JobOutcome;
  settings: GenerationSettings;
}

export interface FigmaLive {
  /** The sandbox reported an edit of the watched frame. */
  edited(nodeId: string): void;
  render(): void;
}

export function mountLive(v: UiView, saveSettings: () => void): FigmaLive {
  const { state, sandbox, conn } = v;
  let target: NodeSummary | null = null;
  let phase: LivePhase = 'off';
  let step = { step: 0, total: 0 };
  let last: LiveResult | null = null;
  let note: string | null = null;
  let model = '';
  let seed = 0;
  /** The settings each job was built with, by job id, until its result comes. */
  const built = new Map<string, GenerationSettings>();

  const liveSettings = (caps: Capabilities): GenerationSettings => {
    const s = state.settings;
    const recipe = presetRecipe('live', caps.models);
    model = recipe.label;
    note = recipe.note ?? null;
    return { ...applySpeedPreset(s, recipe), useInit: true, mode: 'img2img', strength: s.liveStrength, steps: stepsForStrength(recipe.steps, s.liveStrength), variations: 1, preview: true, draftDecode: true };
  };

  const live = new LiveController(
    {
      connection: conn, idPrefix: 'figlive', random: Math.random, now: Date.now, debounceMs: LIVE_DEBOUNCE_MS,
      setTimer: (fn, ms) => window.setTimeout(fn, ms), clearTimer: (h) => window.clearTimeout(h as number),
    },
    {
      capture: async (jobId, caps, jobSeed) => {
        if (!target) return null;
        const settings = liveSettings(caps);
        const exported = await sandbox.exportFor({
          type: 'export', requestId: sandbox.newRequestId(), intent: 'generate', wantInit: true, targetId: target.id,
          budget: { maxPixels: Math.min(caps.maxPixels, caps.maxInputPixels), maxSide: MAX_IMAGE_SIDE, referenceMaxSide: REFERENCE_MAX_SIDE },
        });
        const job = buildJob(settings, {
          jobId, seed: jobSeed, hasInit: exported.init !== null, area: { width: target.width, height: target.height },
          references: exported.references.length, controls: exported.controls.length, preview: true,
        }, caps);
        built.clear();
        built.set(jobId, settings);
        const inputs = inputsOf(exported, caps.maxPayload);
        addRegionMasks(job, inputs, exported); // region nodes limit their style in live jobs too
        return { job, inputs };
      },
      show: async (outcome, job) => {
        const img = outcome.images[0];
        const settings = built.get(job.jobId);
        if (!img || !settings) return;
        last = { png: img.data.slice(), width: img.descriptor.width, height: img.descriptor.height, job, outcome, settings };
        await drawPng($<HTMLCanvasElement>('live-canvas'), last.png);
        render();
      },
    },
    {
      phase: (p, d) => {
        phase = p;
        step = d;
        render();
      },
      preview: (p) => {
        const c = $<HTMLCanvasElement>('live-canvas');
        c.width = p.width;
        c.height = p.height;
        c.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(p.data), p.width, p.height), 0, 0);
      },
      error: (e) => {
        note = errorText(e);
        render();
      },
    },
  );

  const start = (): void => {
    const t = state.selection.target;
    if (!t) {
      note = 'Select the frame to watch first.';
      $<HTMLInputElement>('live').checked = false;
      return render();
    }
    target = t;
    last = null;
    note = null;
    seed = state.settings.seed ?? randomSeed(Math.random);
    sandbox.send({ type: 'watch', nodeId: t.id });
    live.start(seed);
    render();
  };
  const stop = (): void => {
    live.stop();
    sandbox.send({ type: 'watch', nodeId: null });
    target = null;
    render();
  };

  const apply = async (): Promise<void> => {
    const r = last;
    if (!r || !target) return;
    try {
      const record = createRecord({ settings: r.settings, meta: r.outcome.result.metadata, jobId: r.job.jobId, index: 0, createdAt: new Date().toISOString() });
      await sandbox.insert({
        type: 'insert', requestId: sandbox.newRequestId(), targetId: target.id, placement: state.selection.target?.canFill === false ? 'beside' : state.placement,
        images: [{ bytes: r.png, width: r.width, height: r.height, record }],
      });
      note = `Applied the live result (seed ${r.job.seed ?? seed}).`;
      last = null;
    } catch (e) {
      note = errorText(e);
    }
    render();
  };

  $('speed').addEventListener('change', () => {
    const value = $<HTMLSelectElement>('speed').value;
    const caps = conn.welcome?.capabilities;
    if (!caps || !(SPEED_PRESETS as readonly string[]).includes(value)) return;
    state.settings = applySpeedPreset(state.settings, presetRecipe(value as SpeedPreset, caps.models));
    $<HTMLInputElement>('steps').value = String(state.settings.steps);
    $<HTMLSelectElement>('sampler').value = state.settings.sampler;
    $<HTMLInputElement>('guidance').value = String(state.settings.guidance);
    saveSettings();
    render();
  });
  $('live').addEventListener('change', () => ($<HTMLInputElement>('live').checked ? start() : stop()));
  $('liveStrength').addEventListener('input', () => {
    state.settings = { ...state.settings, liveStrength: Number($<HTMLInputElement>('liveStrength').value) };
    saveSettings();
    render();
    if (live.active) live.edit();
  });
  $('live-apply').addEventListener('click', () => void apply());
  // Any other form change (prompt, strengths…) alters the picture: an edit for live mode. The form's own
  // handlers run first (they sit on the fields; this one on the form's container).
  for (const type of ['input', 'change']) {
    $('main').addEventListener(type, (ev) => {
      const id = (ev.target as HTMLElement | null)?.id ?? '';
      if (live.active && !['live', 'liveStrength', 'speed'].includes(id)) live.edit();
    });
  }
  conn.subscribe(() => render());

  function render(): void {
    const s = state.settings;
    const caps = conn.welcome?.capabilities;
    const select = $<HTMLSelectElement>('speed');
    const opts = SPEED_PRESETS.map((p) => [p as string, SPEED_PRESET_LABELS[p]] as const).concat(s.speed === 'custom' ? [['custom', 'Custom'] as const] : []);
    const key = opts.map((o) => o[0]).join(',');
    if (select.dataset.key !== key) {
      select.replaceChildren(...opts.map(([value, label]) => Object.assign(document.createElement('option'), { value, textContent: label })));
      select.dataset.key = key;
    }
    select.value = s.speed;
    select.disabled = !caps;
    $('speed-label').textContent = caps && s.speed !== 'custom' ? presetRecipe(s.speed, caps.models).label : '';
    $<HTMLInputElement>('live').disabled = conn.state.phase !== 'connected' && !live.active;
    $<HTMLInputElement>('liveStrength').value = String(s.liveStrength);
    $('liveStrength-out').textContent = s.liveStrength.toFixed(2);
    $<HTMLButtonElement>('live-apply').disabled = !last;
    $('live-canvas').hidden = !live.active && !last;
    const words = { off: 'Off', idle: 'Watching the frame…', debouncing: 'Edited — waiting for a pause…', running: step.total ? `Step ${step.step} of ${step.total}` : 'Generating…', offline: 'Waiting for the daemon…' }[phase];
    const st = live.stats;
    const parts = live.active ? [words, target ? `“${target.name}”` : '', `seed ${seed}`, model, `${st.results} shown · ${st.cancelled} cancelled`] : [words];
    if (note) parts.push(note);
    $('live-status').textContent = parts.filter(Boolean).join(' · ');
  }

  return {
    edited(nodeId) {
      if (target && nodeId === target.id) live.edit();
    },
    render,
  };
}

async function drawPng(c: HTMLCanvasElement, png: Uint8Array): Promise<void> {
  const bmp = await createImageBitmap(new Blob([png.slice()], { type: 'image/png' }));
  c.width = bmp.width;
  c.height = bmp.height;
  c.getContext('2d')!.drawImage(bmp, 0, 0);
}
