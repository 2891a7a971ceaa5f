/** The run: Generate / Cancel / Regenerate / Variation, progress with the preview, the notice, the recent results. */
import { carrierOf, type PanelView } from './panel-view.ts';

export function wireActions(v: PanelView): void {
  const { el, ctl } = v;
  el.generate.addEventListener('click', () => void ctl.generate());
  el.cancel.addEventListener('click', () => ctl.cancel());
  el.regenerate.addEventListener('click', () => void ctl.repeatSelected('regenerate'));
  el.variation.addEventListener('click', () => void ctl.repeatSelected('variation'));
  el.loadSettings.addEventListener('click', () => void ctl.loadFromSelected());
  el.results.addEventListener('click', (ev) => {
    const id = carrierOf(ev.target, 'data-id')?.getAttribute('data-id');
    if (id) void ctl.reapply(id);
  });
}

export function renderJob(v: PanelView): void {
  const { el, ctl, conn } = v;
  const { show, enable } = v.kit;
    const job = ctl.job;
    const connected = conn.state.phase === 'connected';
    enable(el.generate, !job && connected);
    const label = job ? 'Generating…' : 'Generate';
    // Only on a change: replacing the label's text node between mousedown and mouseup loses the click.
    if (el.generate.textContent !== label) el.generate.textContent = label;
    show(el.cancel, !!job);
    enable(el.cancel, ctl.job?.phase !== 'inserting');
    for (const b of [el.regenerate, el.variation]) enable(b, !job && connected);
    show(el.progressBox, !!job);
    if (!job) return;
    const pct = job.total ? Math.round((job.step / job.total) * 100) : 0;
    el.bar.style.width = `${job.phase === 'inserting' ? 100 : pct}%`;
    const eta = job.etaMs > 0 ? ` · ${Math.ceil(job.etaMs / 1000)} s left` : '';
    el.progressText.textContent = {
      reading: 'Reading the document…',
      sending: 'Sending to the bridge…',
      queued: job.position > 0 ? `Queued — ${job.position} job${job.position === 1 ? '' : 's'} ahead` : 'Starting…',
      running: `Step ${job.step} of ${job.total}${eta}`,
      reconnecting: 'Connection lost — the job keeps running; resuming when back…',
      inserting: 'Adding the layer…',
    }[job.phase];
    show(el.preview, !!job.previewUrl);
    if (job.previewUrl && el.preview.src !== job.previewUrl) el.preview.src = job.previewUrl;
}

export function renderNotice(v: PanelView): void {
  const { el, ctl } = v;
  const { show } = v.kit;
    const n = ctl.notice;
    show(el.notice, !!n);
    if (!n) return;
    el.notice.className = n.kind === 'info' ? '' : n.kind;
    el.notice.textContent = n.text;
}

export function renderResults(v: PanelView): void {
  const { el, ctl, doc } = v;
  const { show } = v.kit;
    const key = ctl.results.map((r) => r.id).join(',');
    show(el.emptyResults, ctl.results.length === 0);
    if (key === v.state.renderedResults) return;
    v.state.renderedResults = key;
    el.results.textContent = '';
    for (const r of ctl.results) {
      // A plain element: UXP draws a <button> as a Spectrum button, frame and all.
      const b = doc.createElement('div');
      b.className = 'thumb';
      b.setAttribute('role', 'button');
      b.setAttribute('data-id', r.id);
      b.title = `Seed ${r.seed}${r.prompt ? ` — ${r.prompt}` : ''}\nClick to apply again`;
      const img = doc.createElement('img');
      img.src = r.thumbUrl;
      img.alt = `seed ${r.seed}`;
      const cap = doc.createElement('span');
      cap.textContent = String(r.seed);
      b.appendChild(img);
      b.appendChild(cap);
      el.results.appendChild(b);
    }
}
