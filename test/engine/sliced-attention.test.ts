/**
 * The WebGPU flavours compute long self-attention in query slices (engine/graphs/nn.ts): the result
 * must equal the unsliced attention, for lengths that split evenly, unevenly, and below the slice count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { attention } from '../../engine/graphs/nn.ts';
import { GraphBuilder, type Flavour } from '../../engine/onnx/builder.ts';
import { maxDiff, runGraph } from '../helpers/graph.ts';

const cache = mkdtempSync(join(tmpdir(), 'ipa-sliced-'));
const HEADS = 2;
const DIM = 8;
const C = HEADS * DIM;

function graph(flavour: Flavour, longQueries: boolean) {
  const g = new GraphBuilder('attn', flavour);
  const q = g.floatInput('q', ['b', 'l', C]);
  const k = g.floatInput('k', ['b', 'l', C]);
  const v = g.floatInput('v', ['b', 'l', C]);
  g.floatOutput('y', attention(g, q, k, v, HEADS, DIM, { longQueries }), ['b', 'l', C]);
  return g.build();
}

const tensor = (l: number, phase: number) => new ort.Tensor('float32', Float32Array.from({ length: 2 * l * C }, (_, i) => Math.sin(i * 0.37 + phase)), [2, l, C]);

for (const l of [64, 200, 10]) {
  test(`sliced self-attention equals the unsliced one (L = ${l})`, async () => {
    const feeds = { q: tensor(l, 0), k: tensor(l, 1), v: tensor(l, 2) };
    const sliced = await runGraph(graph('webgpu', true), feeds, cache);
    const whole = await runGraph(graph('portable', false), feeds, cache);
    const mha = await runGraph(graph('cpu', false), feeds, cache);
    assert.deepEqual(sliced.y.dims, [2, l, C]);
    assert.ok(maxDiff(sliced.y.data, whole.y.data) < 1e-6, `sliced vs whole: ${maxDiff(sliced.y.data, whole.y.data)}`);
    assert.ok(maxDiff(sliced.y.data, mha.y.data) < 1e-5, `sliced vs MultiHeadAttention: ${maxDiff(sliced.y.data, mha.y.data)}`);
  });
}

test('only the WebGPU flavours slice: CoreML/DirectML keep one attention chain, the CPU one MultiHeadAttention node', () => {
  const ops = (f: Flavour) => graph(f, true).ops.map((o) => o.opType);
  assert.ok(ops('webgpu').includes('Slice') && ops('webgpu-fp16').includes('Pad'));
  assert.ok(!ops('portable').includes('Pad'));
  assert.ok(!ops('cpu').includes('Slice'));
  assert.ok(ops('cpu').includes('MultiHeadAttention'));
});
