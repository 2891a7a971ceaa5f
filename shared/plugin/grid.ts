/** Where to put N generated variations next to their source: a near-square grid to its right. Pure. */

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface GridOptions {
  /** Space between the source and the grid, and between cells. */
  gap: number;
  /** Columns; default ⌈√count⌉ so 4 variations make 2×2 and 3 make 2+1. */
  columns?: number;
}

/** Top-left corners of `count` cells of `cell` size, row by row, starting right of `anchor`'s top edge. */
export function gridBeside(anchor: Rect, count: number, cell: { width: number; height: number }, opts: GridOptions): Array<{ x: number; y: number }> {
  if (count <= 0) return [];
  const cols = Math.max(1, Math.min(count, opts.columns ?? Math.ceil(Math.sqrt(count))));
  const x0 = anchor.x + anchor.width + opts.gap;
  const out: Array<{ x: number; y: number }> = [];
  for (let i = 0; i < count; i++) {
    const c = i % cols;
    const r = Math.floor(i / cols);
    out.push({ x: x0 + c * (cell.width + opts.gap), y: anchor.y + r * (cell.height + opts.gap) });
  }
  return out;
}

/** A gap that reads well at any zoom: 5% of the larger side, at least 16 and at most 80 canvas units. */
export function defaultGap(cell: { width: number; height: number }): number {
  return Math.round(Math.min(80, Math.max(16, 0.05 * Math.max(cell.width, cell.height))));
}
