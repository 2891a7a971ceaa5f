/**
 * What the panel keeps and opens: settings in localStorage, the pairing token in UXP's secure storage
 * (localStorage where there is none), and image files the user picks as style reference.
 */
import { HostError, type PsHost } from './host-types.ts';
import type { UxpFile, UxpModule } from './uxp-api.ts';

export function hostStorage(uxp: UxpModule, localStorage: Storage | undefined): Pick<PsHost, 'load' | 'save' | 'loadSecret' | 'saveSecret' | 'pickImageFile'> {
  const load = (key: string): string | null => {
    try {
      return localStorage?.getItem(key) ?? null;
    } catch {
      return null;
    }
  };
  const save = (key: string, value: string | null): void => {
    try {
      if (value === null) localStorage?.removeItem(key);
      else localStorage?.setItem(key, value);
    } catch {
      // storage full or unavailable: settings stay for this session
    }
  };

  return {
    load,
    save,

    async loadSecret(key) {
      const s = uxp.storage.secureStorage;
      if (!s) return load(key);
      try {
        const v = await s.getItem(key);
        return v && v.length ? String.fromCharCode(...v) : null;
      } catch {
        return null;
      }
    },

    async saveSecret(key, value) {
      const s = uxp.storage.secureStorage;
      if (!s) return save(key, value);
      if (value === null) await s.removeItem(key).catch(() => undefined);
      else await s.setItem(key, value);
    },

    async pickImageFile() {
      const fs = uxp.storage.localFileSystem;
      if (!fs) throw new HostError('This Photoshop version cannot open files from a plugin.');
      const file = await fs.getFileForOpening({ types: ['png', 'jpg', 'jpeg'], allowMultiple: false }) as UxpFile | null | undefined;
      if (!file) return null;
      const data = await file.read({ format: uxp.storage.formats?.binary });
      const bytes = typeof data === 'string' ? Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff) : new Uint8Array(data);
      return { name: file.name, bytes };
    },
  };
}
