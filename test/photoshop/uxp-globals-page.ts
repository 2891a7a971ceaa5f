/**
 * Runs in the test page before the panel bundle: `window.__ipaUxpScope`, the scope the bundle runs in
 * (uxp-globals.ts wraps it in `with (__ipaUxpScope) { … }`). Every free name the bundle looks up that
 * UXP does not provide resolves to `undefined` here and is logged in `window.__ipaUxpViolations` — so
 * `new TextEncoder()` throws and the test fails on the log even when the bundle catches the error.
 * `window`, `globalThis` and `self` resolve to a view of the page's global that applies the same rule,
 * so `globalThis.crypto` is caught too. Deleting the page's globals instead would also take them from
 * Playwright's own page script, which needs MutationObserver and friends.
 */
import type { GlobalsConfig } from './uxp-globals.ts';

const w = window as unknown as Record<string, unknown> & { __ipaUxpGlobals: GlobalsConfig; __ipaUxpViolations: string[]; __ipaUxpScope: object };
const allowed = new Set(w.__ipaUxpGlobals.allowed);
const violations: string[] = [];
const note = (name: string): void => {
  if (!violations.includes(name)) violations.push(name);
};
/** Properties the bundle put on `window` itself (an expando needs no API). */
const expandos = new Set<string>();
const permitted = (name: string): boolean => allowed.has(name) || expandos.has(name) || name.startsWith('__ipa');

/** `window.x` / `globalThis.x`: allowed names from the real global (functions bound to it), others noted. */
const globalView: object = new Proxy(window, {
  get(target, name) {
    if (typeof name !== 'string') return Reflect.get(target, name);
    if (name === 'window' || name === 'globalThis') return globalView;
    if (!permitted(name)) {
      note(name);
      return undefined;
    }
    const v = Reflect.get(target, name) as unknown;
    // window.setTimeout(...) on the view would be an illegal invocation; constructors stay as they are.
    return typeof v === 'function' && /^[a-z]/.test(name) ? (v as (...a: unknown[]) => unknown).bind(target) : v;
  },
  has(target, name) {
    if (typeof name === 'string' && !permitted(name)) {
      note(name);
      return false;
    }
    return Reflect.has(target, name);
  },
  set(target, name, value) {
    if (typeof name === 'string' && !(name in target)) expandos.add(name);
    else if (typeof name === 'string' && !permitted(name)) note(`${name} (assigned)`); // overwriting a browser global
    return Reflect.set(target, name, value);
  },
});

w.__ipaUxpViolations = violations;
w.__ipaUxpScope = new Proxy(Object.create(null) as object, {
  // Claims every name UXP lacks (and the three global aliases), so lookups stop here.
  has(_t, name) {
    return typeof name === 'string' && (name === 'window' || name === 'globalThis' || name === 'self' || !permitted(name));
  },
  get(_t, name) {
    if (typeof name !== 'string') return undefined; // Symbol.unscopables: nothing is exempt
    if (name === 'window' || name === 'globalThis') return globalView;
    note(name);
    return undefined;
  },
  set(_t, name) {
    note(`${String(name)} (assigned)`);
    return true;
  },
});
