/**
 * Putting a generated image into a node's fills without losing what was there: the old paints stay in
 * the list, hidden, and their previous visibility is remembered so an export for the next generation
 * (or the user) can see the node as it was. Pure functions over Figma's Paint values.
 */

/** Kept in plugin data next to a generated fill. */
export interface PaintState {
  /** Figma image hash of the generated IMAGE paint. */
  hash: string;
  /** Visibility of the other paints before they were hidden, in order. */
  visibility: boolean[];
}

function isOurs(p: Paint, state: PaintState | null): boolean {
  return state !== null && p.type === 'IMAGE' && p.imageHash === state.hash;
}

/** The fills with `hash` as the top IMAGE paint (replacing a previous generated one) and the rest hidden. */
export function withGeneratedImage(fills: readonly Paint[], prev: PaintState | null, hash: string): { fills: Paint[]; state: PaintState } {
  const others = fills.filter((p) => !isOurs(p, prev));
  // A regeneration keeps the visibility recorded by the first one (by now everything is hidden).
  const visibility = prev && prev.visibility.length === others.length ? prev.visibility : others.map((p) => p.visible !== false);
  const image: ImagePaint = { type: 'IMAGE', imageHash: hash, scaleMode: 'FILL' };
  return { fills: [...others.map((p): Paint => ({ ...p, visible: false })), image], state: { hash, visibility } };
}

/** The fills as they were before generation: the generated paint removed, the others' visibility restored. */
export function withoutGeneratedImage(fills: readonly Paint[], state: PaintState): Paint[] {
  const others = fills.filter((p) => !isOurs(p, state));
  const same = state.visibility.length === others.length;
  return others.map((p, i): Paint => ({ ...p, visible: same ? state.visibility[i] : p.visible !== false }));
}

export function hasGeneratedImage(fills: readonly Paint[], state: PaintState | null): boolean {
  return fills.some((p) => isOurs(p, state));
}

export function parsePaintState(raw: string): PaintState | null {
  if (!raw) return null;
  try {
    const v = JSON.parse(raw) as Partial<PaintState>;
    if (typeof v.hash !== 'string' || !Array.isArray(v.visibility)) return null;
    return { hash: v.hash, visibility: v.visibility.map((x) => x !== false) };
  } catch {
    return null;
  }
}
