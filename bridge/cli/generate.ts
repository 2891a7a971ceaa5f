/** `ipa-bridge generate`: a command-line client of the daemon (or, with --local, of the engine itself). */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { ImagePayload, JobInputs } from '../../shared/protocol/client.ts';
import { DEFAULT_PORT } from '../../shared/protocol/constants.ts';
import { DEFAULT_MAX_INPUT_PIXELS, DEFAULT_MAX_PIXELS } from '../../shared/protocol/limits.ts';
import type { AdapterKind, BlockPreset, ControlSpec, JobMessage, PoseKeypoints, ReferenceSpec, ResultMetadata, SamplerName } from '../../shared/protocol/messages.ts';
import { loadOrCreateToken } from '../config.ts';
import { connectBridge } from '../connect.ts';
import { loadEngineFactory } from '../engine-loader.ts';
import { encodePng, readImageFile } from '../image.ts';
import { withPngText } from '../png-text.ts';
import { a1111Parameters } from '../../engine/pipeline/metadata.ts';
import { runJobLocally } from '../local.ts';
import { flag, num, parse, str, strs, UsageError, type Values } from './args.ts';
import { GENERATE_HELP } from './help.ts';
import { progressBar } from './progress.ts';
import { providerOf } from './start.ts';

const OPTIONS = {
  prompt: { type: 'string' }, negative: { type: 'string' }, seed: { type: 'string' }, steps: { type: 'string' },
  sampler: { type: 'string' }, guidance: { type: 'string' }, width: { type: 'string' }, height: { type: 'string' },
  batch: { type: 'string' }, checkpoint: { type: 'string' },
  style: { type: 'string', multiple: true }, 'style-scale': { type: 'string' }, 'style-preset': { type: 'string' }, adapter: { type: 'string' },
  pose: { type: 'string' }, canny: { type: 'string' }, depth: { type: 'string' }, 'control-scale': { type: 'string' }, preprocess: { type: 'boolean' },
  init: { type: 'string' }, mask: { type: 'string' }, strength: { type: 'string' }, feather: { type: 'string' }, crop: { type: 'boolean' }, padding: { type: 'string' },
  out: { type: 'string', short: 'o' }, metadata: { type: 'boolean' }, local: { type: 'boolean' },
  models: { type: 'string' }, cpu: { type: 'boolean' }, cuda: { type: 'boolean' }, engine: { type: 'string' },
  port: { type: 'string' }, host: { type: 'string' }, token: { type: 'string' },
} as const;

export async function runGenerate(argv: string[]): Promise<number> {
  const v = parse(argv, OPTIONS);
  if (flag(v, 'help')) {
    process.stdout.write(GENERATE_HELP);
    return 0;
  }
  const out = str(v, 'out');
  if (str(v, 'prompt') === undefined) throw new UsageError('--prompt is required (see --help)');
  if (!out) throw new UsageError('--out FILE.png is required');
  const { message, inputs } = await buildJob(v, `cli-${randomBytes(6).toString('hex')}`);
  const bar = progressBar();
  let pngs: Uint8Array[];
  let metadata: ResultMetadata;
  if (flag(v, 'local')) {
    const factory = await loadEngineFactory(str(v, 'engine'));
    const engine = await factory({ modelsDir: str(v, 'models'), provider: providerOf(v) });
    const ac = new AbortController();
    process.once('SIGINT', () => ac.abort());
    try {
      const r = await runJobLocally(engine, message, inputs, { maxPixels: DEFAULT_MAX_PIXELS * 16, signal: ac.signal, onProgress: (e) => bar.update(e.step, e.total) });
      pngs = await Promise.all(r.images.map(async (img, i) => withPngText(await encodePng(img), { parameters: a1111Parameters(r.metadata, i) })));
      metadata = r.metadata;
    } finally {
      bar.done();
      await engine.dispose();
    }
  } else {
    const client = await connectBridge({
      host: str(v, 'host') ?? '127.0.0.1',
      port: num(v, 'port', 1, 65535, true) ?? DEFAULT_PORT,
      token: str(v, 'token') ?? loadOrCreateToken().token,
    });
    process.once('SIGINT', () => {
      bar.note('cancelling…');
      client.cancel(message.jobId);
    });
    try {
      const r = await client.submit(message, inputs, {
        onAccepted: (m) => m.position > 0 && bar.note(`queued (${m.position} ahead)`),
        onProgress: (m) => bar.update(m.step, m.total, m.etaMs),
      });
      pngs = r.images.map((i) => i.data);
      metadata = r.result.metadata;
      client.release(message.jobId);
    } finally {
      bar.done();
      client.close();
    }
  }
  const files = outputNames(out, pngs.length);
  pngs.forEach((png, i) => writeFileSync(files[i], png));
  if (flag(v, 'metadata')) writeFileSync(`${out}.json`, `${JSON.stringify(metadata, null, 2)}\n`);
  const p = metadata.params;
  process.stderr.write(`wrote ${files.join(', ')} (${metadata.outputWidth}x${metadata.outputHeight}, seed ${p.seed}, ${p.steps} steps ${p.sampler}, ${metadata.engine})\n`);
  return 0;
}

/** The job message and its images from the command line. */
export async function buildJob(v: Values, jobId: string): Promise<{ message: JobMessage; inputs: JobInputs }> {
  const message: JobMessage = { type: 'job', jobId, prompt: str(v, 'prompt') ?? '', output: { format: 'png' } };
  const inputs: JobInputs = { references: [], controls: [] };
  const set = <K extends keyof JobMessage>(k: K, val: JobMessage[K] | undefined): void => {
    if (val !== undefined) message[k] = val;
  };
  set('negativePrompt', str(v, 'negative'));
  set('seed', num(v, 'seed', 0, 0xffffffff, true));
  set('steps', num(v, 'steps', 1, 150, true));
  set('sampler', str(v, 'sampler') as SamplerName | undefined);
  set('guidance', num(v, 'guidance', 0, 30));
  set('width', num(v, 'width', 64, 4096, true));
  set('height', num(v, 'height', 64, 4096, true));
  set('batchSize', num(v, 'batch', 1, 64, true));
  set('strength', num(v, 'strength', 0, 1));
  set('checkpoint', str(v, 'checkpoint'));

  const styles = strs(v, 'style');
  if (styles.length) {
    message.references = styles.map((): ReferenceSpec => ({
      source: 'frame',
      scale: num(v, 'style-scale', 0, 3) ?? 0.7,
      preset: (str(v, 'style-preset') ?? 'reference') as BlockPreset,
      adapter: (str(v, 'adapter') ?? 'base') as AdapterKind,
    }));
    inputs.references = await Promise.all(styles.map(readPayload));
  }

  const controls: ControlSpec[] = [];
  const scale = num(v, 'control-scale', 0, 2) ?? 1;
  const pre = flag(v, 'preprocess');
  const pose = str(v, 'pose');
  if (pose && extname(pose).toLowerCase() === '.json') {
    controls.push({ source: 'keypoints', type: 'pose', scale, keypoints: readKeypoints(pose, message) });
    inputs.controls!.push(undefined);
  } else if (pose) {
    controls.push({ source: 'frame', type: 'pose', scale, preprocess: pre ? 'pose-detect' : 'none' });
    inputs.controls!.push(await readPayload(pose));
  }
  for (const type of ['canny', 'depth'] as const) {
    const f = str(v, type);
    if (!f) continue;
    controls.push({ source: 'frame', type, scale, preprocess: pre ? type : 'none' });
    inputs.controls!.push(await readPayload(f));
  }
  if (controls.length) message.controls = controls;

  const init = str(v, 'init');
  const mask = str(v, 'mask');
  if (mask && !init) throw new UsageError('--mask needs --init');
  if (init) {
    message.init = { source: 'frame' };
    inputs.init = await readPayload(init);
  }
  if (mask) {
    message.mask = { source: 'frame', crop: flag(v, 'crop'), feather: num(v, 'feather', 0, 256) ?? 0, padding: num(v, 'padding', 0, 2048, true) ?? 32 };
    inputs.mask = await readPayload(mask);
  }
  return { message, inputs };
}

/** PNG and JPEG go as they are (the daemon decodes them); anything else is decoded here to raw RGBA. */
async function readPayload(path: string): Promise<ImagePayload> {
  const bytes = readFileSync(path);
  if (bytes.subarray(0, 4).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47]))) return { format: 'png', width: 0, height: 0, data: bytes };
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return { format: 'jpeg', width: 0, height: 0, data: bytes };
  const img = await readImageFile(path, DEFAULT_MAX_INPUT_PIXELS);
  return { format: 'raw-rgba8', width: img.width, height: img.height, data: img.data };
}

/** OpenPose JSON; files without a canvas size are taken to be at the generation size. */
function readKeypoints(path: string, message: JobMessage): PoseKeypoints {
  let j: { canvas_width?: number; canvas_height?: number; people?: Array<{ pose_keypoints_2d: number[] }> };
  try {
    j = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`${path}: not JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(j.people)) throw new UsageError(`${path}: no "people" array (expected OpenPose keypoint JSON)`);
  return {
    canvas_width: j.canvas_width ?? message.width ?? 512,
    canvas_height: j.canvas_height ?? message.height ?? 512,
    people: j.people.map((p) => ({ pose_keypoints_2d: p.pose_keypoints_2d })),
  };
}

function outputNames(out: string, n: number): string[] {
  if (n <= 1) return [out];
  const ext = extname(out);
  const stem = ext ? out.slice(0, -ext.length) : out;
  return Array.from({ length: n }, (_, i) => `${stem}-${i + 1}${ext || '.png'}`);
}
