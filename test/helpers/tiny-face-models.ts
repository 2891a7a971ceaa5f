/**
 * Tiny InsightFace-shaped ONNX models (SCRFD det_10g and ArcFace w600k_r50 names and layouts) whose
 * outputs are known in closed form, and test images for them. See test/preprocess/face-onnx.test.ts.
 */
import type { RgbaImage } from '../../engine/api.ts';
import { GraphBuilder, TensorType, type Dim } from '../../engine/onnx/builder.ts';
import { ARCFACE_TEMPLATE_112 } from '../../engine/preprocess/face/geometry.ts';

export const STRIDES = [8, 16, 32] as const;
export const NAMES = { scores: ['448', '471', '494'], boxes: ['451', '474', '497'], kps: ['454', '477', '500'] } as const;
export const INSIGHTFACE_ORDER = [...NAMES.scores, ...NAMES.boxes, ...NAMES.kps];

/** Landmark distances (stride units) putting the 5 points at template·k + (ox, oy) in image pixels, for an anchor at (ax, ay). */
export function kpsBias(k: number, ox: number, oy: number, ax: number, ay: number, pixelsPerUnit: number): number[] {
  return ARCFACE_TEMPLATE_112.flatMap(([x, y]) => [(x * k + ox - ax) / pixelsPerUnit, (y * k + oy - ay) / pixelsPerUnit]);
}

/** Per level: score = sigmoid(w · mean(channel) + b); box and landmark distances constant. */
export interface LevelSpec { channel: number; w: number; b: number; box: number[]; kps: number[] }

// Test image 1280x960 → letterbox 640x480, det_scale 0.5 (1 letterbox px = 2 image px).
// Red face: the stride-32 cell (5, 4) = letterbox [160,192)x[128,160) = image [320,384)x[256,320);
// landmarks = template·0.5 + (324, 260), a 56-px crop well inside the red square.
// Green face: the stride-16 cell (30, 20) = image [960,992)x[640,672); landmarks = template·0.25 + (962, 642).
export const LEVELS: Record<number, LevelSpec> = {
  8: { channel: 0, w: 0, b: -10, box: [0, 0, 0, 0], kps: new Array(10).fill(0) },
  16: { channel: 1, w: 6, b: -1, box: [1, 1, 1, 1], kps: kpsBias(0.25, 962, 642, 960, 640, 32) },
  32: { channel: 0, w: 4, b: -2, box: [1, 1, 1, 1], kps: kpsBias(0.5, 324, 260, 320, 256, 64) },
};

export interface DetectorOptions { fixed?: number; order?: readonly string[]; batchAxis?: boolean }

export function buildDetector(opts: DetectorOptions = {}): Uint8Array {
  const g = new GraphBuilder('scrfd-tiny', 'cpu');
  const H: Dim = opts.fixed ?? 'height';
  const W: Dim = opts.fixed ?? 'width';
  const x = g.input('input.1', TensorType.FLOAT, [1, 3, H, W]);
  const outs = new Map<string, { value: string; dims: Dim[] }>();
  STRIDES.forEach((s, li) => {
    const spec = LEVELS[s];
    const pooled = g.op('AveragePool', [x], { kernel_shape: [s, s], strides: [s, s] });
    const rows: Dim = opts.fixed ? 2 * (opts.fixed / s) ** 2 : `rows${s}`;
    const head = (c: number, weights: Float32Array, bias: number[], sigmoid: boolean, name: string) => {
      const wts = g.const(weights, [2 * c, 3, 1, 1]);
      const b = g.const(Float32Array.from([...bias, ...bias]), [2 * c]);
      let y = g.op('Conv', [pooled, wts, b]);
      if (sigmoid) y = g.op('Sigmoid', [y]);
      y = g.op('Transpose', [y], { perm: [0, 2, 3, 1] });
      y = g.op('Reshape', [y, g.ints(opts.batchAxis ? [1, -1, c] : [-1, c])]);
      outs.set(name, { value: y, dims: opts.batchAxis ? [1, rows, c] : [rows, c] });
    };
    const sw = new Float32Array(6);
    sw[spec.channel] = spec.w;
    sw[3 + spec.channel] = spec.w;
    head(1, sw, [spec.b], true, NAMES.scores[li]);
    head(4, new Float32Array(8 * 3), spec.box, false, NAMES.boxes[li]);
    head(10, new Float32Array(20 * 3), spec.kps, false, NAMES.kps[li]);
  });
  for (const name of opts.order ?? INSIGHTFACE_ORDER) {
    const o = outs.get(name)!;
    g.output(name, o.value, TensorType.FLOAT, o.dims);
  }
  return g.build().model;
}

/** Deterministic weights for the recognizer's [3, 512] projection. */
export const REC_W = Float32Array.from({ length: 3 * 512 }, (_, i) => Math.sin(i * 0.7) * 0.5);
export const REC_B = Float32Array.from({ length: 512 }, (_, i) => Math.cos(i * 0.3) * 0.1);

export function buildRecognizer(size = 112): Uint8Array {
  const g = new GraphBuilder('arcface-tiny', 'cpu');
  const x = g.input('input.1', TensorType.FLOAT, [1, 3, size, size]);
  const pooled = g.op('Flatten', [g.op('GlobalAveragePool', [x])], { axis: 1 });
  const y = g.op('Add', [g.op('MatMul', [pooled, g.const(REC_W, [3, 512])]), g.const(REC_B, [512])]);
  g.output('683', y, TensorType.FLOAT, [1, 512]);
  return g.build().model;
}

/** What the recognizer returns for a crop of one colour, normalised: means are exactly (c − 127.5)/127.5. */
export function expectedEmbedding(rgb: readonly [number, number, number]): { normed: number[]; norm: number } {
  const m = rgb.map((c) => (c - 127.5) / 127.5);
  const raw = Array.from({ length: 512 }, (_, j) => m[0] * REC_W[j] + m[1] * REC_W[512 + j] + m[2] * REC_W[1024 + j] + REC_B[j]);
  const norm = Math.hypot(...raw);
  return { normed: raw.map((v) => v / norm), norm };
}

export function canvas(width: number, height: number, rects: ReadonlyArray<{ x: number; y: number; w: number; h: number; rgb: readonly [number, number, number] }>): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let i = 3; i < data.length; i += 4) data[i] = 255;
  for (const r of rects) {
    for (let y = r.y; y < r.y + r.h; y++) for (let x = r.x; x < r.x + r.w; x++) data.set(r.rgb, (y * width + x) * 4);
  }
  return { width, height, data };
}

