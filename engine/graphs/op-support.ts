/**
 * The operators the portable graph flavours emit and whether each portable execution provider
 * runs them (onnxruntime 1.30). test/engine/portable-ops.test.ts builds every graph kind in both
 * portable flavours and fails on an op missing here; docs/providers.md ("Graph flavours and
 * operator support") explains the table.
 *
 * Sources (facts only):
 * - webgpu: measured here with onnxruntime-node 1.30 on Mesa lavapipe — the session's node-placement
 *   log for every portable graph (only int64 shape arithmetic lands on the CPU provider) — and the
 *   kernel registrations in onnxruntime/core/providers/webgpu.
 * - coreml: onnxruntime's list of ops its CoreML EP converts to an ML Program
 *   (tools/ci_build/github/apple/coreml_supported_mlprogram_ops.md, kept in sync with
 *   docs/execution-providers/CoreML-ExecutionProvider.md). Not run here: no Mac.
 * - dml: the DirectML EP's operator registrations
 *   (onnxruntime/core/providers/dml/DmlExecutionProvider/src/Operators/OperatorRegistration.cpp).
 *   Not run here: no Windows machine.
 * An op an EP lacks still runs: onnxruntime places that node on the CPU provider, at the cost of a
 * copy across the partition boundary.
 */

export type PortableProvider = 'webgpu' | 'coreml' | 'dml';
export const PORTABLE_PROVIDERS: readonly PortableProvider[] = ['webgpu', 'coreml', 'dml'];

export interface EpSupport {
  /** The EP has a kernel / converter for the op as the graphs use it. */
  readonly ok: boolean;
  /** Conditions or what runs on CPU instead. */
  readonly note?: string;
}

export interface PortableOp {
  /** ai.onnx op type (opset 17). */
  readonly op: string;
  /** Where the graphs use it. */
  readonly usedFor: string;
  readonly webgpu: EpSupport;
  readonly coreml: EpSupport;
  readonly dml: EpSupport;
}

const yes: EpSupport = { ok: true };
const shapeMath = 'int64 shape arithmetic is placed on CPU by onnxruntime (cheap, a few elements)';

export const PORTABLE_OPS: readonly PortableOp[] = [
  { op: 'Add', usedFor: 'residuals, biases, masks', webgpu: yes, coreml: yes, dml: yes },
  { op: 'Cast', usedFor: 'fp16 flavour I/O and weights; timestep to float', webgpu: yes, coreml: yes, dml: yes },
  { op: 'Concat', usedFor: 'UNet skip concat, CLIP class token, Resampler keys, shapes', webgpu: { ok: true, note: shapeMath }, coreml: yes, dml: yes },
  { op: 'Conv', usedFor: 'all convolutions (2D, constant weights and bias)', webgpu: yes, coreml: { ok: true, note: '1D/2D only; bias must be constant (ours are)' }, dml: yes },
  { op: 'Cos', usedFor: 'UNet/ControlNet timestep embedding', webgpu: yes, coreml: { ok: false, note: 'not in the ML Program list: the [B, 160] timestep embedding runs on CPU' }, dml: yes },
  { op: 'Div', usedFor: 'VAE latent scaling', webgpu: yes, coreml: yes, dml: yes },
  { op: 'Erf', usedFor: 'exact GELU: 0.5 x (1 + erf(x / sqrt 2)) (GEGLU, CLIP vision MLP, Resampler FF)', webgpu: yes, coreml: yes, dml: yes },
  { op: 'Expand', usedFor: 'CLIP vision class token, Resampler latents to batch', webgpu: yes, coreml: { ok: false, note: 'not in the ML Program list: runs on CPU (a [B, 1, C] tensor)' }, dml: yes },
  { op: 'Gather', usedFor: 'CLIP token embedding, pooled class token, per-layer IP / ControlNet scales, shapes', webgpu: { ok: true, note: shapeMath }, coreml: { ok: false, note: 'only in the NeuralNetwork list (not ML Program): runs on CPU' }, dml: yes },
  { op: 'Identity', usedFor: 'graph outputs named after a value', webgpu: yes, coreml: { ok: true, note: 'removed by onnxruntime graph optimisation before partitioning' }, dml: { ok: true, note: 'Copy kernel' } },
  { op: 'InstanceNormalization', usedFor: 'GroupNorm decomposition over [N, groups, -1]', webgpu: yes, coreml: yes, dml: yes },
  { op: 'LayerNormalization', usedFor: 'transformer norms (opset 17)', webgpu: yes, coreml: yes, dml: yes },
  { op: 'Max', usedFor: 'sliced self-attention (WebGPU flavours only): query rows padded to at least the slice count (int64 shape math)', webgpu: { ok: true, note: shapeMath }, coreml: { ok: true, note: 'on int64 shape values: CPU' }, dml: { ok: true, note: 'on int64 shape values: CPU' } },
  { op: 'MatMul', usedFor: 'linear layers and attention (scores, probs @ V)', webgpu: yes, coreml: { ok: true, note: 'transA 0, alpha 1, beta 1 only (ours)' }, dml: yes },
  { op: 'Mul', usedFor: 'scales, SiLU, GEGLU gate, GroupNorm affine', webgpu: yes, coreml: yes, dml: yes },
  { op: 'Pad', usedFor: 'sliced self-attention (WebGPU flavours only): zero rows so no query slice is empty', webgpu: yes, coreml: { ok: false, note: 'not emitted for CoreML (the portable flavour does not slice attention)' }, dml: { ok: true, note: 'not emitted for DirectML (the portable flavour does not slice attention)' } },
  { op: 'ReduceSum', usedFor: 'sum over IP-Adapter slots in attn2', webgpu: yes, coreml: yes, dml: yes },
  { op: 'Relu', usedFor: 'TAESD conv blocks', webgpu: yes, coreml: yes, dml: yes },
  { op: 'Reshape', usedFor: 'heads split/merge, tokens <-> NCHW, GroupNorm', webgpu: yes, coreml: yes, dml: { ok: true, note: 'Copy kernel' } },
  { op: 'Resize', usedFor: 'nearest 2x upsampling (asymmetric, floor)', webgpu: yes, coreml: { ok: true, note: 'conditions in resize_op_builder.cc; the UNet passes sizes computed from shapes, which CoreML may refuse (then CPU)' }, dml: yes },
  { op: 'Shape', usedFor: 'dynamic shapes (batch, H, W)', webgpu: yes, coreml: yes, dml: yes },
  { op: 'Sigmoid', usedFor: 'SiLU, quick_gelu', webgpu: yes, coreml: yes, dml: yes },
  { op: 'Sin', usedFor: 'UNet/ControlNet timestep embedding', webgpu: yes, coreml: { ok: false, note: 'not in the ML Program list: runs on CPU' }, dml: yes },
  { op: 'Slice', usedFor: 'shape pieces, position embeddings to sequence length', webgpu: { ok: true, note: shapeMath }, coreml: { ok: true, note: 'starts/ends/axes must be constant initializers; shape slices of dynamic tensors run on CPU' }, dml: yes },
  { op: 'Softmax', usedFor: 'attention probabilities (last axis)', webgpu: yes, coreml: yes, dml: yes },
  { op: 'Split', usedFor: 'GEGLU halves, Resampler k/v, VAE mean/logvar (constant splits)', webgpu: yes, coreml: { ok: true, note: 'splits must be constant (ours are)' }, dml: yes },
  { op: 'Squeeze', usedFor: 'pooled class token', webgpu: yes, coreml: yes, dml: { ok: true, note: 'Copy kernel' } },
  { op: 'Sub', usedFor: 'VAE latent shift (shift_factor != 0 only)', webgpu: yes, coreml: yes, dml: yes },
  { op: 'Tanh', usedFor: 'TAESD decoder soft clamp of the latents', webgpu: yes, coreml: yes, dml: yes },
  { op: 'Transpose', usedFor: 'heads, weight transposes (folded at load), NCHW <-> tokens', webgpu: yes, coreml: yes, dml: yes },
  { op: 'Unsqueeze', usedFor: 'broadcast axes (time embedding, IP bias)', webgpu: yes, coreml: yes, dml: { ok: true, note: 'Copy kernel' } },
];

export const PORTABLE_OP_TYPES: ReadonlySet<string> = new Set(PORTABLE_OPS.map((o) => o.op));

/** Ops a provider has no kernel for (those nodes run on the CPU provider). */
export function cpuFallbackOps(provider: PortableProvider): string[] {
  return PORTABLE_OPS.filter((o) => !o[provider].ok).map((o) => o.op);
}
