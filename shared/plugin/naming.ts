/**
 * The one naming scheme for generated layers (Photoshop) and nodes (Figma): `[IPA] <seed> <prompt…>`,
 * the seed first so it survives a host truncating long names, and parsed back when a layer lost its
 * record. Pure.
 */
import { SEED_MAX } from '../protocol/limits.ts';

const NAME_PREFIX = '[IPA]';

export function resultName(seed: number, prompt: string, max = 64): string {
  const p = prompt.trim().replace(/\s+/g, ' ');
  const head = `${NAME_PREFIX} ${seed >>> 0}`;
  if (!p) return head;
  const room = max - head.length - 1;
  // A regex, not trimEnd: the Figma sandbox that imports this is ES2017.
  return `${head} ${p.length > room ? `${p.slice(0, Math.max(1, room - 1)).replace(/\s+$/, '')}…` : p}`;
}

export function parseResultName(name: string): { seed: number; prompt: string } | null {
  const m = /^\[IPA\] (\d{1,10})(?: (.*))?$/.exec(name);
  if (!m) return null;
  const seed = Number(m[1]);
  return seed <= SEED_MAX ? { seed, prompt: (m[2] ?? '').replace(/…$/, '') } : null;
}

export function isResultName(name: string): boolean {
  return name.startsWith(`${NAME_PREFIX} `) || name === NAME_PREFIX;
}
