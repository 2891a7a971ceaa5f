/** The run: the Generate button, starting a run, its progress line, the live preview and the result thumbnails. */
import type { Intent } from './messages.ts';
import { GenerationRun, type RunStatus } from './ui-run.ts';
import { $, type UiView } from './ui-view.ts';

export function renderGenerateButton(v: UiView): void {
  const { state, conn } = v;
  const btn = $<HTMLButtonElement>('generate');
  const running = state.run !== null && !isFinished(state.runStatus);
  const connected = conn.state.phase === 'connected';
  const t = state.selection.target;
  let label = 'Generate';
  if (!connected) label = 'Connect to the daemon first';
  else if (!t) label = 'Select a frame or shape';
  else if (!state.settings.prompt.trim()) label = 'Write a prompt';
  else if (state.settings.variations > 1) label = `Generate ${state.settings.variations} variations`;
  btn.textContent = running ? 'Generating…' : label;
  btn.disabled = running || !connected || !t || !state.settings.prompt.trim();
  for (const id of ['regenerate', 'variation']) $<HTMLButtonElement>(id).disabled = running || !connected;
}

function isFinished(s: RunStatus | null): boolean {
  return s === null || s.phase === 'done' || s.phase === 'failed' || s.phase === 'cancelled';
}

export function startRun(v: UiView, intent: Intent): void {
  const { state, conn, pending, sandbox } = v;
  const target = state.selection.target;
  if (!target || (state.run && !isFinished(state.runStatus))) return;
  $('previews').replaceChildren();
  const run = new GenerationRun(
    { conn, pending, sandbox, random: Math.random, now: Date.now },
    { intent, settings: state.settings, placement: state.placement, target },
    { status: (s) => onRunStatus(v, s), preview: drawPreview },
  );
  state.run = run;
  state.runStatus = { phase: 'exporting', message: 'Exporting from Figma…' };
  renderRun(v);
  void run.start();
}

function onRunStatus(v: UiView, s: RunStatus): void {
  v.state.runStatus = s;
  renderRun(v);
  if (s.phase === 'done' && s.images) void drawResults(s.images.map((i) => i.bytes));
  if (s.phase === 'failed') v.sandbox.send({ type: 'notify', message: s.message ?? 'Generation failed', error: true });
}

function renderRun(v: UiView): void {
  const s = v.state.runStatus;
  $('run').hidden = s === null;
  if (s) {
    const frac = s.phase === 'done' ? 1 : s.total ? (s.step ?? 0) / s.total : 0;
    $('progress-bar').style.width = `${Math.round(frac * 100)}%`;
    const eta = s.phase === 'running' && s.etaMs !== undefined && s.etaMs > 0 ? ` · ${Math.ceil(s.etaMs / 1000)} s left` : '';
    $('run-text').textContent = `${s.message ?? s.phase}${eta}`;
    $('run-line').classList.toggle('error', s.phase === 'failed');
    $('cancel').hidden = isFinished(s);
    document.body.dataset.run = s.phase; // a hook for tests and styling
  }
  renderGenerateButton(v);
}

function previewCanvas(index: number): HTMLCanvasElement {
  const box = $('previews');
  let c = box.children[index] as HTMLCanvasElement | undefined;
  if (!c) {
    c = document.createElement('canvas');
    box.append(c);
  }
  return c;
}

function drawPreview(p: { width: number; height: number; data: Uint8Array }): void {
  const c = previewCanvas(0);
  c.width = p.width;
  c.height = p.height;
  const img = new ImageData(new Uint8ClampedArray(p.data), p.width, p.height);
  c.getContext('2d')!.putImageData(img, 0, 0);
}

/** Result thumbnails, decoded from the PNG bytes with a canvas (no blob: URLs for Figma's CSP to refuse). */
async function drawResults(pngs: Uint8Array[]): Promise<void> {
  $('previews').replaceChildren();
  for (let i = 0; i < Math.min(pngs.length, 4); i++) {
    const bytes = pngs[i];
    const bmp = await createImageBitmap(new Blob([bytes.slice()], { type: 'image/png' }));
    const c = previewCanvas(i);
    c.width = bmp.width;
    c.height = bmp.height;
    c.getContext('2d')!.drawImage(bmp, 0, 0);
    c.title = `${bmp.width}×${bmp.height}`;
  }
}
