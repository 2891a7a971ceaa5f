/**
 * Child process of probeWebGpu: builds a MatMul + Softmax graph, runs it on the WebGPU provider
 * alone and prints `webgpu ok` when the result matches the exact one. Any other ending (an error,
 * a crash inside Dawn, a hang killed by the parent) means no usable adapter.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../engine/onnx/builder.ts';

const g = new GraphBuilder('webgpu-probe', 'portable');
const a = g.floatInput('a', [2, 3]);
const b = g.floatInput('b', [3, 2]);
g.floatOutput('y', g.op('Softmax', [g.op('MatMul', [a, b])], { axis: -1 }), [2, 2]);
const session = await ort.InferenceSession.create(g.build().model, { executionProviders: ['webgpu'] });
const out = await session.run({
  a: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]),
  b: new ort.Tensor('float32', Float32Array.from([1, 0, 0, 1, 1, 1]), [3, 2]),
});
const y = out.y.data as Float32Array;
// rows [4, 5] and [10, 11]: softmax = [1/(1+e), e/(1+e)] for both.
const p = 1 / (1 + Math.E);
const ok = [p, 1 - p, p, 1 - p].every((v, i) => Math.abs(y[i] - v) < 1e-5);
await session.release();
console.log(ok ? 'webgpu ok' : `webgpu wrong result ${Array.from(y).join(',')}`);
