/**
 * Out-of-memory failures, recognised from the text onnxruntime (or the allocator under it) throws, and
 * turned into an error a user can act on. onnxruntime reports them as plain errors whose wording
 * depends on the execution provider, so this is a list of the texts each one is known to use.
 */
import { EngineError } from '../../engine/api.ts';

/** Lower-cased fragments; each is specific to allocation failure (none matches an ordinary error). */
const PATTERNS: readonly RegExp[] = [
  /failed to allocate memory/, // onnxruntime BFC arena / CPU allocator ("Failed to allocate memory for requested buffer of size …")
  /out of memory/, // CUDA ("CUDA failure 2: out of memory"), Dawn/WebGPU, Mesa, generic
  /outofmemory|out_of_(device_|host_|pool_)?memory/, // WebGPU "GPUOutOfMemoryError", Vulkan VK_ERROR_OUT_OF_DEVICE_MEMORY / _HOST_MEMORY
  /cudaerrormemoryallocation/,
  /cublas_status_alloc_failed|cudnn_status_alloc_failed|cufft_alloc_failed/,
  /available memory of \d+ is smaller than requested bytes/, // onnxruntime arena with a memory limit
  /e_outofmemory|0x8007000e/, // DirectML / HRESULT "Not enough memory resources are available"
  /not enough memory/,
  /std::bad_alloc|bad allocation/, // C++ new failing inside a kernel (MSVC says "bad allocation")
  /cannot allocate memory|\benomem\b/, // mmap / malloc errno
  /array buffer allocation failed/, // V8 RangeError when a tensor's ArrayBuffer cannot be made
  /allocation failed - javascript heap out of memory/,
];

export function isOutOfMemoryText(text: string): boolean {
  const t = text.toLowerCase();
  return PATTERNS.some((p) => p.test(t));
}

export interface OomContext {
  /** The provider the engine runs on ("cpu", "cuda", …): CPU means system RAM, anything else the GPU's. */
  readonly provider: string;
  readonly width: number;
  readonly height: number;
  readonly batchSize: number;
}

/**
 * An EngineError ('out-of-memory') with what to try, when `e` is an allocation failure; undefined
 * otherwise (the caller keeps the original error). The original text is kept at the end for bug reports.
 */
export function outOfMemoryError(e: unknown, ctx: OomContext): EngineError | undefined {
  if (e instanceof EngineError) return undefined; // already a user-facing error
  const text = e instanceof Error ? e.message : typeof e === 'string' ? e : '';
  if (!text || !isOutOfMemoryText(text)) return undefined;
  return new EngineError('out-of-memory', outOfMemoryAdvice(ctx, text.split('\n')[0].slice(0, 300)));
}

export function outOfMemoryAdvice(ctx: OomContext, detail?: string): string {
  const where = ctx.provider === 'cpu' ? 'system memory (RAM)' : `GPU memory (${ctx.provider})`;
  const smaller = Math.max(256, Math.floor(Math.min(ctx.width, ctx.height) * 0.75 / 64) * 64);
  const tips = [
    `a smaller size (e.g. ${smaller}×${smaller} instead of ${ctx.width}×${ctx.height})`,
    ...(ctx.batchSize > 1 ? [`a batch of 1 instead of ${ctx.batchSize}`] : []),
    // Tiled VAE decoding needs no switch: the engine tiles the decode above 768² by itself.
    'fewer ControlNets or image prompts',
    ctx.provider === 'cpu' ? 'closing other programs' : 'closing other programs that use the GPU, or the CPU provider (--provider cpu)',
  ];
  return `out of ${where} while generating ${ctx.width}×${ctx.height}${ctx.batchSize > 1 ? ` ×${ctx.batchSize}` : ''}: try ${tips.join(', ')}.${detail ? ` (${detail})` : ''}`;
}
