/** Out-of-memory recognition (bridge/engine-host/out-of-memory.ts): the texts each provider throws, and the advice. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CancelledError, EngineError } from '../../engine/api.ts';
import { isOutOfMemoryText, outOfMemoryError } from '../../bridge/engine-host/out-of-memory.ts';

const ctx = { provider: 'cuda', width: 1024, height: 768, batchSize: 4 };

test('allocation failures of every provider are recognised', () => {
  const texts = [
    // CPU (BFC arena / default allocator)
    '[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running Conv node. Name:\'/down/Conv\' Status Message: /onnxruntime_src/onnxruntime/core/framework/bfc_arena.cc:376 void* onnxruntime::BFCArena::AllocateRawInternal(size_t, bool, onnxruntime::Stream*, bool, onnxruntime::WaitNotificationFn) Failed to allocate memory for requested buffer of size 5368709120',
    'Available memory of 1048576 is smaller than requested bytes of 4194304',
    'std::bad_alloc',
    'bad allocation',
    // CUDA
    'CUDA failure 2: out of memory ; GPU=0 ; hostname=x ; file=/onnxruntime_src/onnxruntime/core/providers/cuda/cuda_allocator.cc ; line=47 ; expr=cudaMalloc((void**)&p, size);',
    'CUDA error cudaErrorMemoryAllocation:out of memory',
    'CUBLAS failure 3: CUBLAS_STATUS_ALLOC_FAILED ; GPU=0',
    'CUDNN failure 4: CUDNN_STATUS_ALLOC_FAILED',
    // DirectML (HRESULT E_OUTOFMEMORY)
    'D:\\a\\_work\\1\\s\\onnxruntime\\core\\providers\\dml\\DmlExecutionProvider\\src\\BucketizedBufferAllocator.cpp(122)\\onnxruntime_pybind11_state.pyd!00007FFB: (caller: 00007FFB) Exception(3) tid(2cd8) 8007000E Not enough memory resources are available to complete this operation.',
    'E_OUTOFMEMORY',
    // WebGPU (Dawn) / Vulkan
    'WebGPU: Out of memory while allocating buffer of 268435456 bytes',
    'GPUOutOfMemoryError: Failed to create buffer',
    'VK_ERROR_OUT_OF_DEVICE_MEMORY',
    // The OS and V8
    'mmap(PROT_READ) failed: Cannot allocate memory',
    'RangeError: Array buffer allocation failed',
  ];
  for (const t of texts) assert.ok(isOutOfMemoryText(t), t);
});

test('ordinary errors are not mistaken for memory trouble', () => {
  const texts = [
    'Load model from /m/unet.onnx failed: Protobuf parsing failed.',
    'checkpoint "nope" not found in the models folder',
    '[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for input: x for the following indices index: 2 Got: 65 Expected: 64',
    'CUDA failure 100: no CUDA-capable device is detected',
    'memory.bin: external data out of range',
    'cancelled',
  ];
  for (const t of texts) assert.equal(isOutOfMemoryText(t), false, t);
});

test('the error says where memory ran out, what to try, and keeps the original text', () => {
  const e = outOfMemoryError(new Error('CUDA failure 2: out of memory ; GPU=0\nstack…'), ctx);
  assert.ok(e instanceof EngineError);
  assert.equal(e.code, 'out-of-memory');
  assert.match(e.message, /^out of GPU memory \(cuda\) while generating 1024×768 ×4: try a smaller size \(e\.g\. 576×576 instead of 1024×768\), a batch of 1 instead of 4/);
  assert.match(e.message, /--provider cpu/);
  assert.match(e.message, /\(CUDA failure 2: out of memory ; GPU=0\)$/, 'first line of the original');
  const cpu = outOfMemoryError(new Error('Failed to allocate memory for requested buffer of size 1'), { provider: 'cpu', width: 512, height: 512, batchSize: 1 })!;
  assert.match(cpu.message, /^out of system memory \(RAM\) while generating 512×512: try a smaller size \(e\.g\. 384×384/);
  assert.doesNotMatch(cpu.message, /batch of 1 instead/);
});

test('other errors, EngineErrors and cancels pass through unchanged', () => {
  assert.equal(outOfMemoryError(new Error('Protobuf parsing failed'), ctx), undefined);
  assert.equal(outOfMemoryError(new EngineError('model-missing', 'out of memory is not the point here'), ctx), undefined);
  assert.equal(outOfMemoryError(new CancelledError(), ctx), undefined);
  assert.equal(outOfMemoryError(undefined, ctx), undefined);
  assert.ok(outOfMemoryError('std::bad_alloc', ctx), 'a thrown string counts too');
});
