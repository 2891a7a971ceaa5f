/**
 * Tiny ONNX stand-ins for the annotator models, built with the engine's GraphBuilder and written to a
 * temp folder. They have the real models' input/output names and shapes, and just enough behaviour to
 * check the pre/post-processing geometry end to end through onnxruntime:
 *
 * - yolox: `images` [1,3,640,640] → `output` [1,8400,85]. Per stride (8/16/32): average-pool the input
 *   by the stride, a 1x1 conv to 85 channels, sigmoid on objectness and classes. Only the stride-32 level
 *   can fire: objectness = sigmoid(0.1 (R − G) − 12) of the cell's mean, so a cell that is all pure red
 *   scores ~1 and anything else ~0; boxes are centred on the cell, 4 cells (128 px) wide and high.
 * - dwpose: `input` [1,3,384,288] → `simcc_x` [1,133,576], `simcc_y` [1,133,768]. d = R − G of the
 *   normalised crop; simcc_x[k] = column-max of d, each bin doubled (split ratio 2), × scale[k]; simcc_y
 *   likewise with row maxima. So every keypoint lands on the top-left of the reddest area, with score
 *   4.28 × scale[k] there.
 * - depth: `pixel_values` [batch,3,height,width] (dynamic) → `predicted_depth` [batch,height,width] = the
 *   channel mean (brighter = "nearer"); and a MiDaS-like static one, `image` [1,3,64,64] → `depth`
 *   [1,1,64,64].
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphBuilder, TensorType } from '../../engine/onnx/builder.ts';

export const dir = mkdtempSync(join(tmpdir(), 'ipa-preprocess-test-'));

function save(b: GraphBuilder, name: string): string {
  const g = b.build();
  if (g.memory.length || g.files.length) throw new Error('tiny models must be self-contained');
  const path = join(dir, name);
  writeFileSync(path, g.model);
  return path;
}

export function buildYolox(): string {
  const b = new GraphBuilder('tiny-yolox', 'cpu');
  const x = b.input('images', TensorType.FLOAT, [1, 3, 640, 640]);
  const levels: string[] = [];
  for (const stride of [8, 16, 32]) {
    const g = 640 / stride;
    const pooled = b.op('AveragePool', [x], { kernel_shape: [stride, stride], strides: [stride, stride] });
    const w = new Float32Array(85 * 3);
    const bias = new Float32Array(85);
    bias[0] = 0.5; // tx: cell centre
    bias[1] = 0.5; // ty
    bias[2] = Math.log(4); // tw: 4 cells
    bias[3] = Math.log(4); // th
    if (stride === 32) {
      w[4 * 3 + 0] = 0.1; // objectness from R − G
      w[4 * 3 + 1] = -0.1;
      bias[4] = -12;
    } else {
      bias[4] = -20;
    }
    bias[5] = 10; // class 0 (person) always on
    for (let c = 6; c < 85; c++) bias[c] = -10;
    const conv = b.op('Conv', [pooled, b.const(w, [85, 3, 1, 1], 'w'), b.const(bias, [85], 'b')]);
    const reg = b.op('Slice', [conv, b.ints([0]), b.ints([4]), b.ints([1])]);
    const cls = b.op('Sigmoid', [b.op('Slice', [conv, b.ints([4]), b.ints([85]), b.ints([1])])]);
    const joined = b.op('Concat', [reg, cls], { axis: 1 });
    levels.push(b.op('Reshape', [joined, b.ints([1, 85, g * g])]));
  }
  const all = b.op('Concat', levels, { axis: 2 });
  b.output('output', b.op('Transpose', [all], { perm: [0, 2, 1] }), TensorType.FLOAT, [1, 8400, 85]);
  return save(b, 'yolox_l.onnx');
}

/** Per-keypoint score scales of the tiny pose model (133). */
export function poseScales(): Float32Array {
  const s = new Float32Array(133).fill(0.2); // score ≈ 0.857 on red
  s[6] = 0.05; // right shoulder below 0.3 → no neck, no openpose joint 2
  for (let k = 23; k < 91; k++) s[k] = 0.05; // face absent
  for (let k = 112; k < 133; k++) s[k] = -1; // right hand: max is off the red → tiny score
  return s;
}

export function buildDwpose(): string {
  const b = new GraphBuilder('tiny-dwpose', 'cpu');
  const x = b.input('input', TensorType.FLOAT, [1, 3, 384, 288]);
  const d = b.op('Conv', [x, b.const(new Float32Array([1, -1, 0]), [1, 3, 1, 1], 'rg')]);
  const scale = b.const(poseScales(), [1, 133, 1], 'scale');
  const profile = (axis: number, n: number): string => {
    const m = b.op('ReduceMax', [d], { axes: [axis], keepdims: 1 });
    const col = b.op('Reshape', [m, b.ints([1, 1, n, 1])]);
    const twice = b.op('Concat', [col, col], { axis: 3 }); // each bin doubled: split ratio 2
    return b.op('Mul', [b.op('Reshape', [twice, b.ints([1, 1, n * 2])]), scale]);
  };
  b.output('simcc_x', profile(2, 288), TensorType.FLOAT, [1, 133, 576]);
  b.output('simcc_y', profile(3, 384), TensorType.FLOAT, [1, 133, 768]);
  return save(b, 'dw-ll_ucoco_384.onnx');
}

export function buildDepthAnything(): string {
  const b = new GraphBuilder('tiny-depth-anything', 'cpu');
  const x = b.input('pixel_values', TensorType.FLOAT, ['batch_size', 3, 'height', 'width']);
  b.output('predicted_depth', b.op('ReduceMean', [x], { axes: [1], keepdims: 0 }), TensorType.FLOAT, ['batch_size', 'height', 'width']);
  return save(b, 'depth_anything_v2_small.onnx');
}

export function buildMidas(): string {
  const b = new GraphBuilder('tiny-midas', 'cpu');
  const x = b.input('image', TensorType.FLOAT, [1, 3, 64, 64]);
  b.output('depth', b.op('ReduceMean', [x], { axes: [1], keepdims: 1 }), TensorType.FLOAT, [1, 1, 64, 64]);
  return save(b, 'midas_small.onnx');
}
