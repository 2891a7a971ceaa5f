/**
 * The real PsHost over the UXP `photoshop` and `uxp` modules (passed in, so tests and the
 * headless-Chromium run give fakes with an in-memory document), put together from one module per job:
 * host-document.ts (documents, layers, selection bounds), host-pixels.ts (reads and the new layer, in a
 * modal scope), host-storage.ts (settings, token, files), host-web.ts (image URLs, socket, probe).
 * The interface itself is in host-types.ts.
 */
import { documentQueries } from './host-document.ts';
import { modalScope, readLayerRecord } from './host-pixels.ts';
import { hostStorage } from './host-storage.ts';
import type { PsHost } from './host-types.ts';
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
  return {
    ...documentQueries(ps),
    ...hostStorage(uxp, opts.localStorage),
    ...webPlatform(),
    readLayerRecord: (docId, layerId) => readLayerRecord(ps, docId, layerId),
    async modal(label, fn, history) {
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
    },
  };
}
