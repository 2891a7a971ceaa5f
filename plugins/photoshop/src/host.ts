/**
 * The real PsHost over the UXP `photoshop` and `uxp` modules (passed in, so tests and the
 * headless-Chromium run give fakes with an in-memory document), put together from one module per job:
 * host-document.ts (documents, layers, selection bounds), host-pixels.ts (reads and the new layer, in a
 * modal scope), host-storage.ts (settings, token, files), host-web.ts (image URLs, socket, probe).
 * The interface itself is in host-types.ts.
 */
import { classifyEdit, documentQueries, EDIT_EVENTS } from './host-document.ts';
import { modalScope, readLayerRecord } from './host-pixels.ts';
import { hostStorage } from './host-storage.ts';
import type { ModalScope, PsHost } from './host-types.ts';
import { webPlatform } from './host-web.ts';
import type { PsModule, UxpModule } from './uxp-api.ts';

export * from './host-types.ts';
export { docInfo } from './host-document.ts';

export interface HostOptions {
  /** Where settings go (UXP and browsers: window.localStorage). */
  localStorage?: Storage;
  /** Largest stripe written with one putPixels (pixels). */
  stripePixels?: number;
}


export function createUxpHost(ps: PsModule, uxp: UxpModule, opts: HostOptions = { localStorage: (globalThis as { localStorage?: Storage }).localStorage }): PsHost {
  const stripePixels = opts.stripePixels ?? 4 * 1024 * 1024;
  // The panel's own reads and writes (a layer hidden for a read, the live layer written) notify too:
  // live mode must not take them for the user's edits, or every live result would start the next job.
  // They happen inside its modal scopes, and its writes end in history states with its own names.
  let ownScopes = 0;
  const ownHistory = new Set<string>();
  return {
    ...documentQueries(ps),
    ...hostStorage(uxp, opts.localStorage),
    ...webPlatform(),
    readLayerRecord: (docId, layerId) => readLayerRecord(ps, docId, layerId),
    onDocumentEdit(fn) {
      void ps.action.addNotificationListener([...EDIT_EVENTS], (event, descriptor) => {
        if (ownScopes > 0 || (event === 'historyStateChanged' && ownHistory.has(String(descriptor.name)))) return;
        const edit = classifyEdit(event, descriptor);
        if (edit) fn(edit);
      }).catch(() => undefined);
    },
    async modal(label, fn, history) {
      ownScopes++;
      if (history) ownHistory.add(history.name);
      try {
        return await modalRun(label, fn, history);
      } finally {
        ownScopes--;
      }
    },
  };

  function modalRun<T>(label: string, fn: (scope: ModalScope) => Promise<T>, history?: { docId: number; name: string }): Promise<T> {
    return ps.core.executeAsModal(async (ctx) => {
      let alive = true;
      let suspension: unknown = null;
      if (history) suspension = await ctx.hostControl.suspendHistory({ documentID: history.docId, name: history.name });
      try {
        const out = await fn(modalScope(ps, ctx, () => alive, stripePixels));
        if (suspension !== null) await ctx.hostControl.resumeHistory(suspension as never, true);
        return out;
      } catch (e) {
        if (suspension !== null) await ctx.hostControl.resumeHistory(suspension as never, false).catch(() => undefined);
        throw e;
      } finally {
        alive = false;
      }
    }, { commandName: label });
  }
}
