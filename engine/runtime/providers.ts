/**
 * Execution providers: which onnxruntime-node offers on this platform, the session options each
 * needs, and the graph flavour each gets. Probing (does it actually run?) is in probe.ts.
 */
import type * as ort from 'onnxruntime-node';

/** The providers onnxruntime-node 1.30's prebuilt binaries can offer (DESIGN.md, Providers). */
export type ProviderName = 'cpu' | 'webgpu' | 'coreml' | 'dml' | 'cuda' | 'tensorrt';
export const PROVIDER_NAMES: readonly ProviderName[] = ['cpu', 'webgpu', 'coreml', 'dml', 'cuda', 'tensorrt'];

/** What a user asks for: one provider, or `auto` (the best that probes well). */
export type ProviderChoice = ProviderName | 'auto';
export const PROVIDER_CHOICES: readonly ProviderChoice[] = ['auto', ...PROVIDER_NAMES];

export function isProviderChoice(v: string): v is ProviderChoice {
  return (PROVIDER_CHOICES as readonly string[]).includes(v);
}

/**
 * The order `auto` tries providers in, per platform (the first that probes well wins; CPU last).
 * CUDA first wherever its libraries load. On Windows DirectML before WebGPU: both run on every
 * DirectX 12 GPU, DirectML's kernels are the older and more complete set (not measured here: no
 * Windows machine; see docs/providers.md).
 */
export function autoOrder(platform: NodeJS.Platform = process.platform): readonly ProviderName[] {
  switch (platform) {
    case 'darwin':
      return ['coreml', 'webgpu', 'cpu'];
    case 'win32':
      return ['cuda', 'dml', 'webgpu', 'cpu'];
    default:
      return ['cuda', 'webgpu', 'cpu'];
  }
}

/**
 * The providers onnxruntime-node's binary for this platform is built with (its own list). CUDA and
 * TensorRT on Linux are listed only once their libraries were downloaded (`ipa-bridge install-cuda`).
 */
export function platformProviders(platform: NodeJS.Platform = process.platform): readonly ProviderName[] {
  switch (platform) {
    case 'darwin':
      return ['cpu', 'coreml', 'webgpu'];
    case 'win32':
      return ['cpu', 'dml', 'webgpu'];
    case 'linux':
      return ['cpu', 'webgpu', 'cuda', 'tensorrt'];
    default:
      return ['cpu'];
  }
}

const COREML_FLAG_CREATE_MLPROGRAM = 0x010;

/**
 * Graph flavours:
 * - cpu: fp32, standard ops plus the com.microsoft kernels onnxruntime's CPU provider has.
 * - cuda: fp16 compute, fused com.microsoft ops (CUDA-only GroupNorm, MultiHeadAttention).
 * - portable: fp32, standard ONNX ops only (CoreML, DirectML).
 * - portable-fp16: like portable with fp16 compute; graph I/O stays fp32.
 * - webgpu, webgpu-fp16: portable, with long self-attention in query slices (WebGPU's storage-buffer
 *   limits; engine/graphs/nn.ts). Not for CoreML: its Slice needs constant bounds, so slices would
 *   split the graph into CPU partitions.
 */
export type Flavour = 'cpu' | 'cuda' | 'portable' | 'portable-fp16' | 'webgpu' | 'webgpu-fp16';

export function flavourFor(provider: ProviderName, fp16: boolean): Flavour {
  switch (provider) {
    case 'cpu':
      return 'cpu';
    case 'cuda':
    case 'tensorrt':
      return 'cuda';
    case 'webgpu':
      return fp16 ? 'webgpu-fp16' : 'webgpu';
    default:
      return fp16 ? 'portable-fp16' : 'portable';
  }
}

/**
 * Session options a provider requires besides its EP list. DirectML supports neither memory-pattern
 * optimisation nor parallel execution: onnxruntime's DirectML page says session creation fails
 * unless both are off. DirectML also runs ONNX opsets up to 17, which is what the graphs import.
 */
export function providerSessionOptions(provider: ProviderName): Pick<ort.InferenceSession.SessionOptions, 'enableMemPattern' | 'executionMode'> {
  return provider === 'dml' ? { enableMemPattern: false, executionMode: 'sequential' } : {};
}

/**
 * onnxruntime execution-provider list for a session. Every GPU provider keeps the CPU as the
 * fallback for the few nodes it lacks (shape arithmetic, mostly).
 */
export function executionProviders(provider: ProviderName): NonNullable<ort.InferenceSession.SessionOptions['executionProviders']> {
  switch (provider) {
    case 'cpu':
      return ['cpu'];
    case 'cuda':
      return ['cuda', 'cpu'];
    case 'tensorrt':
      return ['tensorrt', 'cuda', 'cpu'];
    case 'webgpu':
      return ['webgpu', 'cpu'];
    case 'dml':
      return ['dml', 'cpu'];
    case 'coreml':
      // COREML_FLAG_CREATE_MLPROGRAM: the older NeuralNetwork format lacks fp16 and many of the ops
      // the graphs use. The Node binding takes CoreML options only as these flags.
      return [{ name: 'coreml', coreMlFlags: COREML_FLAG_CREATE_MLPROGRAM }, 'cpu'];
  }
}
