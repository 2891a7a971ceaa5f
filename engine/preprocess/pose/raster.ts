/**
 * A tiny RGB rasteriser with OpenCV's drawing semantics (LINE_8, shift 0), enough to draw OpenPose
 * skeletons the way the ControlNet annotators do with cv2: `ellipse2Poly` + `fillConvexPoly` limbs,
 * midpoint-algorithm filled circles, thick lines. Integer pixel centres, as in OpenCV.
 */

export type Rgb = readonly [number, number, number];

/** Interleaved RGB, 3 bytes per pixel, row-major. */
export interface RgbCanvas {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export function createCanvas(width: number, height: number): RgbCanvas {
  return { width, height, data: new Uint8Array(width * height * 3) };
}

/** cvRound: round half to even (lrint in the default rounding mode). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return (r - v === 0.5 && r % 2 !== 0 ? r - 1 : r) + 0; // + 0 turns -0 into 0
}

function hline(c: RgbCanvas, y: number, x1: number, x2: number, color: Rgb): void {
  if (y < 0 || y >= c.height) return;
  const a = Math.max(0, x1);
  const b = Math.min(c.width - 1, x2);
  for (let x = a, o = (y * c.width + a) * 3; x <= b; x++, o += 3) {
    c.data[o] = color[0];
    c.data[o + 1] = color[1];
    c.data[o + 2] = color[2];
  }
}

function plot(c: RgbCanvas, x: number, y: number, color: Rgb): void {
  if (x < 0 || y < 0 || x >= c.width || y >= c.height) return;
  const o = (y * c.width + x) * 3;
  c.data[o] = color[0];
  c.data[o + 1] = color[1];
  c.data[o + 2] = color[2];
}

/**
 * cv2.ellipse2Poly(center, axes, angle, 0, 360, delta) for integer arguments: points on the rotated
 * ellipse every `delta` degrees (sin/cos of whole degrees, single precision like OpenCV's table),
 * rounded half-to-even, consecutive duplicates dropped.
 */
export function ellipsePolygon(cx: number, cy: number, ax: number, ay: number, angleDeg: number, delta = 1): Array<[number, number]> {
  let angle = angleDeg;
  while (angle < 0) angle += 360;
  while (angle > 360) angle -= 360;
  const alpha = cosDeg(angle);
  const beta = sinDeg(angle);
  const pts: Array<[number, number]> = [];
  let px = Number.NaN, py = Number.NaN;
  for (let i = 0; i < 360 + delta; i += delta) {
    const a = Math.min(i, 360);
    const x = ax * cosDeg(a);
    const y = ay * sinDeg(a);
    const rx = roundHalfEven(cx + x * alpha - y * beta);
    const ry = roundHalfEven(cy + x * beta + y * alpha);
    if (rx !== px || ry !== py) {
      pts.push([rx, ry]);
      px = rx;
      py = ry;
    }
  }
  if (pts.length === 1) return [[cx, cy], [cx, cy]];
  return pts;
}

const sinDeg = (d: number): number => Math.fround(Math.sin((d * Math.PI) / 180));
const cosDeg = (d: number): number => Math.fround(Math.cos((d * Math.PI) / 180));

/**
 * cv2.fillConvexPoly for integer vertices: each scanline filled between its rounded left and right
 * edge crossings, plus the outline drawn as 8-connected lines (OpenCV draws the edges too, which
 * makes shallow edges slightly fuller than a pure scanline fill).
 */
export function fillConvexPolygon(c: RgbCanvas, pts: ReadonlyArray<readonly [number, number]>, color: Rgb): void {
  if (pts.length === 0) return;
  let ymin = Infinity, ymax = -Infinity;
  for (const [, y] of pts) {
    ymin = Math.min(ymin, y);
    ymax = Math.max(ymax, y);
  }
  const y0 = Math.max(0, ymin), y1 = Math.min(c.height - 1, ymax);
  for (let y = y0; y <= y1; y++) {
    let xl = Infinity, xr = -Infinity;
    for (let i = 0; i < pts.length; i++) {
      const [ax, ay] = pts[i];
      const [bx, by] = pts[(i + 1) % pts.length];
      if ((y < ay && y < by) || (y > ay && y > by)) continue;
      if (ay === by) {
        xl = Math.min(xl, ax, bx);
        xr = Math.max(xr, ax, bx);
      } else {
        const x = ax + ((y - ay) * (bx - ax)) / (by - ay);
        xl = Math.min(xl, x);
        xr = Math.max(xr, x);
      }
    }
    if (xl <= xr) hline(c, y, Math.floor(xl + 0.5), Math.floor(xr + 0.5), color);
  }
  for (let i = 0; i < pts.length; i++) {
    const [ax, ay] = pts[i];
    const [bx, by] = pts[(i + 1) % pts.length];
    line8(c, ax, ay, bx, by, color);
  }
}

/** 8-connected Bresenham segment between integer points, both ends included. */
export function line8(c: RgbCanvas, x0: number, y0: number, x1: number, y1: number, color: Rgb): void {
  const dx = Math.abs(x1 - x0), dy = Math.abs(y1 - y0);
  const sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  let err = dx - dy;
  let x = x0, y = y0;
  for (;;) {
    plot(c, x, y, color);
    if (x === x1 && y === y1) return;
    const e2 = 2 * err;
    if (e2 > -dy) {
      err -= dy;
      x += sx;
    }
    if (e2 < dx) {
      err += dx;
      y += sy;
    }
  }
}

/** cv2.circle(img, center, r, color, thickness=-1) with LINE_8: OpenCV's midpoint fill, integer centre. */
export function fillCircle(c: RgbCanvas, cx: number, cy: number, radius: number, color: Rgb): void {
  let err = 0, dx = radius, dy = 0, plus = 1, minus = (radius << 1) - 1;
  while (dx >= dy) {
    hline(c, cy - dy, cx - dx, cx + dx, color);
    hline(c, cy + dy, cx - dx, cx + dx, color);
    hline(c, cy - dx, cx - dy, cx + dy, color);
    hline(c, cy + dx, cx - dy, cx + dy, color);
    dy++;
    err += plus;
    plus += 2;
    const mask = (err <= 0 ? 1 : 0) - 1;
    err -= minus & mask;
    dx += mask;
    minus -= mask & 2;
  }
}

/**
 * cv2.line with thickness > 1 (a quad of half-width thickness/2 with round caps) approximated as every
 * pixel centre within thickness/2 of the segment.
 */
export function thickLine(c: RgbCanvas, x0: number, y0: number, x1: number, y1: number, thickness: number, color: Rgb): void {
  const r = thickness / 2;
  const xa = Math.max(0, Math.floor(Math.min(x0, x1) - r)), xb = Math.min(c.width - 1, Math.ceil(Math.max(x0, x1) + r));
  const ya = Math.max(0, Math.floor(Math.min(y0, y1) - r)), yb = Math.min(c.height - 1, Math.ceil(Math.max(y0, y1) + r));
  const dx = x1 - x0, dy = y1 - y0;
  const len2 = dx * dx + dy * dy;
  for (let y = ya; y <= yb; y++) {
    for (let x = xa; x <= xb; x++) {
      const px = x - x0, py = y - y0;
      const t = len2 > 0 ? Math.max(0, Math.min(1, (px * dx + py * dy) / len2)) : 0;
      const ex = px - t * dx, ey = py - t * dy;
      if (ex * ex + ey * ey <= r * r + 1e-9) plot(c, x, y, color);
    }
  }
}

/** canvas = (canvas * k).astype(uint8): scale every channel, truncating. */
export function scaleCanvas(c: RgbCanvas, k: number): void {
  for (let i = 0; i < c.data.length; i++) c.data[i] = Math.floor(c.data[i] * k);
}

/** matplotlib.colors.hsv_to_rgb([h, 1, 1]) * 255, then cv2's saturate_cast (round half to even). */
export function hsvColor(h: number): Rgb {
  const i = Math.floor(h * 6) % 6;
  const f = h * 6 - Math.floor(h * 6);
  const q = 1 - f; // v * (1 - s*f) with s = v = 1
  const t = 1 - (1 - f); // v * (1 - s*(1-f))
  const rgb: [number, number, number][] = [[1, t, 0], [q, 1, 0], [0, 1, t], [0, q, 1], [t, 0, 1], [1, 0, q]];
  const [r, g, b] = rgb[i];
  const sat = (v: number): number => Math.min(255, Math.max(0, roundHalfEven(v * 255)));
  return [sat(r), sat(g), sat(b)];
}

export function canvasToRgba(c: RgbCanvas): { width: number; height: number; data: Uint8Array } {
  const out = new Uint8Array(c.width * c.height * 4);
  for (let i = 0, j = 0; i < c.data.length; i += 3, j += 4) {
    out[j] = c.data[i];
    out[j + 1] = c.data[i + 1];
    out[j + 2] = c.data[i + 2];
    out[j + 3] = 255;
  }
  return { width: c.width, height: c.height, data: out };
}
