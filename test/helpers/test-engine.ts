/**
 * A deterministic stand-in for the real engine, for daemon and CLI tests. Same interface, no models:
 * each "step" sleeps IPA_TEST_ENGINE_STEP_MS (default 10) and checks the abort signal, so cancel lands
 * within one step; the image is a function of the request, so tests can check what reached the engine:
 *   - txt2img: a gradient whose colours come from the seed and the prompt;
 *   - init: mixed with the init by `strength`, and only where the mask allows;
 *   - references tint the image by their scale; controls are added as a bright overlay.
 * A prompt containing "[engine-error]" throws an EngineError naming `checkpoint`. For the engine
 * process tests (bridge/engine-host): "[engine-oom]" throws onnxruntime's allocation-failure text;
 * "[engine-exit]" prints a C++ allocation failure to stderr and exits (a native crash);
 * "[engine-block:MS]" makes each step a synchronous MS-long wait (like onnxruntime's `session.run`:
 * nothing else runs in the process meanwhile); "[engine-hang]" blocks the first step forever.
 * With IPA_TEST_ENGINE_DIE_AT_START=FILE, the process exits while creating the engine if FILE exists.
 * Load it in the daemon with IPA_BRIDGE_ENGINE=test (or --engine test).
 */
import { existsSync } from 'node:fs';
import { CancelledError, EngineError, type Engine, type GenerateOptions, type GenerateRequest, type GenerateResult, type ModelSummary, type RgbaImage } from '../../engine/api.ts';

export interface TestEngineOptions {
  modelsDir?: string;
  /** A provider choice; `auto` resolves to cpu, as the real engine does on a machine without a GPU. */
  provider: string;
  stepMs?: number;
}

export async function createEngine(opts: TestEngineOptions): Promise<Engine> {
  const dieFile = process.env.IPA_TEST_ENGINE_DIE_AT_START;
  if (dieFile && existsSync(dieFile)) process.exit(3);
  return new TestEngine(opts.provider === 'auto' ? 'cpu' : opts.provider, opts.stepMs ?? Number(process.env.IPA_TEST_ENGINE_STEP_MS ?? 10));
}

/** FNV-1a over a string, for colours that depend on the prompt. */
function hashString(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function expectedColor(prompt: string, seed: number): [number, number, number] {
  const h = hashString(prompt, seed);
  return [h & 0xff, (h >>> 8) & 0xff, (h >>> 16) & 0xff];
}

class TestEngine implements Engine {
  constructor(readonly provider: string, private readonly stepMs: number) {}

  async listModels(): Promise<ModelSummary[]> {
    return [
      { name: 'test-sd15.safetensors', kind: 'checkpoint', path: '/test/test-sd15.safetensors', bytes: 1234, default: true },
      { name: 'test-ip-adapter.safetensors', kind: 'ipadapter:base', path: '/test/test-ip-adapter.safetensors', bytes: 56 },
      { name: 'test-ip-adapter-plus.safetensors', kind: 'ipadapter:plus', path: '/test/test-ip-adapter-plus.safetensors', bytes: 56 },
      { name: 'test-openpose.safetensors', kind: 'controlnet:pose', path: '/test/test-openpose.safetensors', bytes: 78 },
    ];
  }

  async dispose(): Promise<void> {}

  async generate(req: GenerateRequest, opts: GenerateOptions = {}): Promise<GenerateResult> {
    const t0 = Date.now();
    const p = req.params;
    if (p.prompt.includes('[engine-error]')) throw new EngineError('model-missing', 'checkpoint "nope" not found in the models folder', 'checkpoint');
    if (p.prompt.includes('[engine-exit]')) {
      // Like a native abort: a last line on stderr, then the process is gone.
      process.stderr.write('test engine: terminate called after throwing an instance of std::bad_alloc\n');
      process.exit(7);
    }
    if (p.prompt.includes('[engine-oom]')) throw new Error('Failed to allocate memory for requested buffer of size 4294967296');
    const block = /\[engine-block:(\d+)\]/.exec(p.prompt);
    const hang = p.prompt.includes('[engine-hang]');
    for (let step = 1; step <= p.steps; step++) {
      if (opts.signal?.aborted) throw new CancelledError();
      await sleep(this.stepMs, opts.signal);
      if (hang) blockFor(Infinity);
      if (block) blockFor(Number(block[1]));
      if (opts.signal?.aborted) throw new CancelledError();
      opts.onProgress?.({ step, total: p.steps, ...(opts.wantPreview ? { preview: solid(8, 8, [step * 10 % 256, 0, 0]) } : {}) });
    }
    const images: RgbaImage[] = [];
    for (let b = 0; b < p.batchSize; b++) images.push(this.paint(req, (p.seed + b) >>> 0));
    return {
      images,
      controlImages: req.controls.map((c) => c.image),
      metadata: {
        params: p,
        references: req.references.map(({ image: _i, mask, ...r }) => (mask ? { ...r, masked: true } : r)),
        controls: req.controls.map(({ image: _i, ...c }) => c),
        models: { checkpoint: { name: 'test-sd15.safetensors', sha256: '0'.repeat(64) } },
        timings: { denoise: Date.now() - t0 },
        engine: `test-engine/${this.provider}`,
      },
    };
  }

  private paint(req: GenerateRequest, seed: number): RgbaImage {
    const { width: w, height: h, prompt, strength } = req.params;
    const [r, g, b] = expectedColor(prompt, seed);
    const tint = req.references.reduce((s, ref) => s + ref.scale, 0);
    const out = new Uint8Array(w * h * 4);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const o = (y * w + x) * 4;
        // A horizontal ramp over the prompt colour, so resizes and crops are visible.
        let pr = (r + (x * 64) / w) & 0xff, pg = (g + (y * 64) / h) & 0xff, pb = Math.min(255, b + tint * 40);
        for (const c of req.controls) {
          const v = c.image.data[o] | c.image.data[o + 1] | c.image.data[o + 2];
          if (v > 0) pr = pg = pb = 255;
        }
        if (req.init) {
          const m = req.mask ? req.mask.data[y * w + x] / 255 : 1;
          const k = strength * m;
          pr = req.init.data[o] * (1 - k) + pr * k;
          pg = req.init.data[o + 1] * (1 - k) + pg * k;
          pb = req.init.data[o + 2] * (1 - k) + pb * k;
        }
        out[o] = pr; out[o + 1] = pg; out[o + 2] = pb; out[o + 3] = 255;
      }
    }
    return { width: w, height: h, data: out };
  }
}

function solid(w: number, h: number, c: [number, number, number]): RgbaImage {
  const d = new Uint8Array(w * h * 4);
  for (let i = 0; i < d.length; i += 4) { d[i] = c[0]; d[i + 1] = c[1]; d[i + 2] = c[2]; d[i + 3] = 255; }
  return { width: w, height: h, data: d };
}

/** Blocks this thread without using a core (Atomics.wait on a value nobody changes). */
function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
