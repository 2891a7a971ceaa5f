/**
 * The built ui.html in headless Chromium with the Figma host faked behind the same message interface:
 * an init script replaces `window.parent` so the UI's `parent.postMessage({pluginMessage})` reaches the
 * real sandbox code (plugins/figma/src/sandbox.ts) running in Node against FakeFigma, and the sandbox's
 * `figma.ui.postMessage` comes back as a window `message` event with `data.pluginMessage`, as in Figma.
 *
 * Crossing the Node/browser boundary (test plumbing only) encodes Uint8Array as tagged base64, and the
 * tag records that the UI really posted a Uint8Array.
 */
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { UiMessage } from '../../plugins/figma/src/messages.ts';
import { startSandbox, UI_SIZE } from '../../plugins/figma/src/sandbox.ts';
import { FakeFigma } from './fake-figma.ts';

type Encoded = unknown;

/** In the page: replaces parent, keeps the sockets the UI opens (to drop one in a test). */
const INIT_SCRIPT = `(() => {
  const toB64 = (u8) => { let s = ''; for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000)); return btoa(s); };
  const fromB64 = (b) => { const s = atob(b); const u = new Uint8Array(s.length); for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i); return u; };
  const enc = (v) => v instanceof Uint8Array ? { __u8: toB64(v) } : Array.isArray(v) ? v.map(enc)
    : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, enc(x)])) : v;
  const dec = (v) => v && typeof v === 'object' && typeof v.__u8 === 'string' ? fromB64(v.__u8) : Array.isArray(v) ? v.map(dec)
    : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, dec(x)])) : v;
  window.__fromSandbox = (m) => window.postMessage({ pluginMessage: dec(m) }, '*');
  Object.defineProperty(window, 'parent', { configurable: true, value: { postMessage: (data) => window.__toSandbox(enc(data)) } });
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Native { constructor(...a) { super(...a); window.__sockets.push(this); } };
})();`;

/**
 * What Figma does for a plugin shown with `themeColors: true`: a `figma-light` / `figma-dark` class on
 * <html> and the --figma-color-* variables of that theme (a subset: the ones ui.html reads).
 */
const THEMES = {
  light: { bg: '#ffffff', 'bg-secondary': '#f5f5f5', 'bg-hover': '#f5f5f5', text: '#000000e5', 'text-secondary': '#00000080', 'text-tertiary': '#0000004d',
    border: '#e6e6e6', 'bg-brand': '#0d99ff', 'text-onbrand': '#ffffff', 'bg-selected': '#e5f4ff', 'text-danger': '#f24822', 'bg-danger-tertiary': '#ffe2e0',
    'bg-warning-tertiary': '#fff1c2', 'icon-success': '#14ae5c' },
  dark: { bg: '#2c2c2c', 'bg-secondary': '#383838', 'bg-hover': '#383838', text: '#ffffff', 'text-secondary': '#ffffffb2', 'text-tertiary': '#ffffff66',
    border: '#444444', 'bg-brand': '#0c8ce9', 'text-onbrand': '#ffffff', 'bg-selected': '#4a5878', 'text-danger': '#fca397', 'bg-danger-tertiary': '#4d2a26',
    'bg-warning-tertiary': '#4d3f1f', 'icon-success': '#79d297' },
} as const;
export type FigmaTheme = keyof typeof THEMES;

function themeScript(theme: FigmaTheme): string {
  const vars = Object.entries(THEMES[theme]).map(([k, v]) => `--figma-color-${k}: ${v};`).join(' ');
  return `document.addEventListener('DOMContentLoaded', () => {
    document.documentElement.classList.add('figma-${theme}');
    const st = document.createElement('style');
    st.id = 'figma-style';
    st.textContent = ':root { ${vars} }';
    document.head.prepend(st);
  });`;
}

function decode(v: Encoded): unknown {
  if (Array.isArray(v)) return v.map(decode);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.__u8 === 'string') return tagged(new Uint8Array(Buffer.from(o.__u8, 'base64')));
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, decode(x)]));
  }
  return v;
}

function encode(v: unknown): Encoded {
  if (v instanceof Uint8Array) return { __u8: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (Array.isArray(v)) return v.map(encode);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, encode(x)]));
  return v;
}

/** Byte arrays that arrived from the UI as real Uint8Array (not base64 strings or number arrays). */
export const fromUiAsUint8 = new WeakSet<Uint8Array>();
function tagged(u: Uint8Array): Uint8Array {
  fromUiAsUint8.add(u);
  return u;
}

export interface UiPage {
  page: Page;
  figma: FakeFigma;
  /** Every message the UI sent, decoded. */
  fromUi: UiMessage[];
  close(): Promise<void>;
}

/** Opens dist/ui.html from `dist` (file:// → Origin "null", like Figma's iframe) with a fresh fake document. */
export async function openUi(browser: Browser, dist: string, setup?: (figma: FakeFigma) => void, theme: FigmaTheme = 'light'): Promise<UiPage> {
  const figma = new FakeFigma();
  setup?.(figma);
  const page = await browser.newPage({ viewport: { width: UI_SIZE.width, height: UI_SIZE.height } });
  const fromUi: UiMessage[] = [];
  let chain = Promise.resolve();
  figma.onPost((m) => {
    // In order, one at a time, like Figma's message channel.
    chain = chain.then(() => page.evaluate((x) => (window as unknown as { __fromSandbox(m: unknown): void }).__fromSandbox(x), encode(m))).catch(() => undefined);
  });
  await page.exposeFunction('__toSandbox', (data: Encoded) => {
    const msg = (decode(data) as { pluginMessage: UiMessage }).pluginMessage;
    fromUi.push(msg);
    figma.deliver(msg);
  });
  await page.addInitScript(INIT_SCRIPT);
  await page.addInitScript(themeScript(theme));
  startSandbox(figma.asApi(), '<ui.html>');
  await page.goto(pathToFileURL(join(dist, 'ui.html')).href);
  return {
    page, figma, fromUi,
    async close() {
      await chain;
      await page.close();
    },
  };
}
