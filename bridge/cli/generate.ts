/**
 * `ipa-bridge generate`: a command-line client of the daemon (or, with --local, of the engine itself).
 * Order matters for a user on a CPU, where a job takes minutes: every option, every input file and the
 * output path are checked first; only then is the daemon contacted or the engine loaded.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { Command, Option } from 'commander';
import { resultText } from '../result-text.ts';
import type { JobInputs } from '../../shared/protocol/client.ts';
import { BridgeError } from '../../shared/protocol/client.ts';
import { DEFAULT_PORT } from '../../shared/protocol/constants.ts';
import { DEFAULT_MAX_BATCH, DEFAULT_MAX_INPUT_PIXELS, DEFAULT_MAX_PIXELS } from '../../shared/protocol/limits.ts';
import {
  ADAPTER_KINDS, BLOCK_PRESETS, SAMPLERS,
  type AdapterKind, type BlockPreset, type ControlSpec, type JobMessage, type PoseKeypoints, type ResultMetadata, type SamplerName,
} from '../../shared/protocol/messages.ts';
import { loadOrCreateToken } from '../config.ts';
import { connectBridge } from '../connect.ts';
import { loadEngineFactory } from '../engine-loader.ts';
import { LocalJobError, runJobLocally } from '../local.ts';
import { addEngineOption, addProviderOptions, collect, intArg, numberArg, providerFrom, UsageError, type ProviderFlags } from './args.ts';
import { GENERATE_HELP_AFTER } from './help.ts';
import { checkImage, checkPixels, readInputFile, toPayload, type CheckedImage } from './inputs.ts';
import { withShortHashes } from './model-hashes.ts';
import { checkOutput, metadataName, outputNames, writeImage, type OutputPlan } from './output.ts';
import { progressBar } from './progress.ts';

export interface GenerateOptions extends ProviderFlags {
  readonly prompt: string;
  readonly negative?: string;
  readonly seed?: number;
  readonly steps?: number;
  readonly sampler?: SamplerName;
  readonly guidance?: number;
  readonly width?: number;
  readonly height?: number;
  readonly batch?: number;
  readonly checkpoint?: string;
  readonly style?: string[];
  readonly styleMask?: string[];
  readonly styleScale?: number;
  readonly stylePreset?: BlockPreset;
  readonly adapter?: AdapterKind;
  readonly pose?: string;
  readonly canny?: string;
  readonly depth?: string;
  readonly controlScale?: number;
  readonly preprocess?: boolean;
  readonly init?: string;
  readonly mask?: string;
  readonly strength?: number;
  readonly feather?: number;
  readonly crop?: boolean;
  readonly padding?: number;
  readonly out: string;
  readonly metadata?: boolean;
  readonly local?: boolean;
  readonly models?: string;
  readonly maxInputPixels?: number;
  readonly port: number;
  readonly host: string;
  readonly token?: string;
  readonly engine?: string;
}

const size = numberArg({ min: 64, max: 4096, multipleOf: 8 });

export function generateCommand(ran: (code: number) => void): Command {
  const cmd = new Command('generate')
    .description('generate an image from the command line (through the daemon, or --local)')
    .usage('--prompt TEXT --out FILE.png [options]')
    .requiredOption('--prompt <text>', 'what to draw')
    .option('--negative <text>', 'what to avoid')
    .option('--seed <n>', 'seed; -1 or none = random (printed, and stored with --metadata)', numberArg({ min: 0, max: 0xffffffff, integer: true, also: [-1] }))
    .option('--steps <n>', 'denoising steps [20]', intArg(1, 150))
    .addOption(new Option('--sampler <name>', 'sampler [euler-ancestral]').choices(SAMPLERS))
    .option('--guidance <n>', 'classifier-free guidance scale [7]', numberArg({ min: 0, max: 30 }))
    .option('--width <n>', 'width, a multiple of 8 [512, or the --init width]', size)
    .option('--height <n>', 'height, a multiple of 8 [512, or the --init height]', size)
    .option('--batch <n>', 'images per job [1]; files get -1, -2, ... suffixes', intArg(1, DEFAULT_MAX_BATCH))
    .option('--checkpoint <name>', 'checkpoint from the models folder')
    .option('--style <file>', 'style/reference image (IP-Adapter); repeatable', collect)
    .option('--style-mask <file>', 'where the --style of the same position acts (white = there; regional image prompt); repeatable', collect)
    .option('--style-scale <n>', '0 = off, 0.3-0.5 weak, 0.7-1 strong, >1 overrides the text [0.7]', numberArg({ min: 0, max: 3 }))
    .addOption(new Option('--style-preset <p>', 'which layers the image prompt drives [reference]').choices(BLOCK_PRESETS))
    .addOption(new Option('--adapter <kind>', 'IP-Adapter kind [base]').choices(ADAPTER_KINDS))
    .option('--pose <file>', 'OpenPose skeleton image (.png) or keypoint JSON (.json)')
    .option('--canny <file>', 'image to take edges from')
    .option('--depth <file>', 'depth map (or a photo with --preprocess)')
    .option('--control-scale <n>', 'ControlNet strength [1]', numberArg({ min: 0, max: 2 }))
    .option('--preprocess', 'detect pose / edges / depth from a photo instead of using FILE as the map')
    .option('--init <file>', 'start from this image (the result has its size)')
    .option('--mask <file>', 'repaint only where the mask is white (alpha counts as black); needs --init')
    .option('--strength <n>', 'how much to change the init [0.75]', numberArg({ min: 0, max: 1 }))
    .option('--feather <n>', 'soften the mask edge by N pixels [0]', numberArg({ min: 0, max: 256 }))
    .option('--crop', 'generate only the mask\'s area (plus --padding) and paste it back')
    .option('--padding <n>', 'pixels around the mask with --crop [32]', intArg(0, 2048))
    .requiredOption('-o, --out <file>', 'where to write: .png, .jpg/.jpeg or .webp (the extension picks the format)')
    .option('--metadata', 'also write FILE.json (out.png -> out.json) with every parameter, seed and model hash')
    .option('--local', 'run the engine in this process instead of the daemon')
    .option('--models <dir>', 'models folder for --local');
  addProviderOptions(cmd, 'execution provider for --local');
  cmd
    .option('--max-input-pixels <n>', `largest input image for --local [${DEFAULT_MAX_INPUT_PIXELS}] (the daemon has its own: start --max-input-pixels)`, intArg(64 * 64, 16384 * 16384))
    .option('--port <n>', 'daemon port', intArg(1, 65535), DEFAULT_PORT)
    .option('--host <h>', 'daemon host', '127.0.0.1')
    .option('--token <t>', 'pairing token [IPA_BRIDGE_TOKEN or the stored one]')
    .addHelpText('after', GENERATE_HELP_AFTER);
  addEngineOption(cmd);
  return cmd.action(async (o: GenerateOptions) => ran(await runGenerate(o)));
}

/** The image inputs by option, in the order the job sends them. */
interface CheckedInputs {
  readonly styles: CheckedImage[];
  /** By the position of the --style they limit. */
  readonly styleMasks: CheckedImage[];
  readonly controls: Array<{ readonly option: string; readonly type: 'pose' | 'canny' | 'depth'; readonly image?: CheckedImage; readonly keypoints?: PoseKeypoints }>;
  readonly init?: CheckedImage;
  readonly mask?: CheckedImage;
}

export async function runGenerate(o: GenerateOptions): Promise<number> {
  // 1. Everything the command line says, before any work.
  const plan = checkOutput(o.out);
  if (o.mask && !o.init) throw new UsageError('--mask needs --init (the image the mask applies to)');
  if ((o.styleMask?.length ?? 0) > (o.style?.length ?? 0)) throw new UsageError(`--style-mask: ${o.styleMask!.length} masks for ${o.style?.length ?? 0} --style images; each mask limits the --style of the same position`);
  if (!o.local) {
    // The daemon has its own models, provider and limits: silently ignoring these would mislead.
    const localOnly = [o.models && '--models', o.maxInputPixels !== undefined && '--max-input-pixels', (o.provider || o.cpu || o.cuda) && (o.cpu ? '--cpu' : o.cuda ? '--cuda' : '--provider')].filter(Boolean);
    if (localOnly.length) throw new UsageError(`${localOnly.join(', ')}: only with --local; the daemon uses its own (set them on "npx ipa-bridge start")`);
  }
  const localLimit = o.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS;
  const hint = o.local ? 'raise it with --max-input-pixels N' : 'the daemon\'s limit: raise it with "npx ipa-bridge start --max-input-pixels N"';
  const inputs = await checkInputs(o, o.local ? localLimit : DEFAULT_MAX_INPUT_PIXELS * 16, hint);
  const jobId = `cli-${randomBytes(6).toString('hex')}`;
  const message = jobMessage(o, inputs, jobId);
  const payloads = await jobPayloads(inputs, o.local ? localLimit : 16384 * 16384);

  // 2. The job.
  const bar = progressBar();
  let images: Array<Uint8Array | { width: number; height: number; data: Uint8Array }>;
  let metadata: ResultMetadata;
  try {
    if (o.local) {
      const factory = await loadEngineFactory(o.engine);
      const engine = await factory({ modelsDir: o.models, provider: providerFrom(o) });
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      try {
        const r = await runJobLocally(engine, message, payloads, { maxPixels: DEFAULT_MAX_PIXELS * 16, signal: ac.signal, onProgress: (e) => bar.update(e.step, e.total) });
        images = r.images;
        metadata = r.metadata;
      } finally {
        bar.done();
        await engine.dispose();
      }
    } else {
      const client = await connectBridge({ host: o.host, port: o.port, token: o.token ?? loadOrCreateToken().token });
      try {
        // The daemon states its input limit in the handshake: check against it before sending megabytes.
        const limit = client.welcome?.capabilities.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS;
        for (const img of allImages(inputs)) checkPixels(img, limit, hint);
        process.once('SIGINT', () => {
          bar.note('cancelling…');
          client.cancel(message.jobId);
        });
        const r = await client.submit(message, payloads, {
          onAccepted: (m) => m.position > 0 && bar.note(`queued (${m.position} ahead)`),
          onProgress: (m) => bar.update(m.step, m.total, m.etaMs),
        });
        images = r.images.map((i) => i.data);
        metadata = r.result.metadata;
        client.release(message.jobId);
      } finally {
        bar.done();
        client.close();
      }
    }
  } catch (e) {
    throw withOptionNames(e, inputs);
  }

  // 3. The files.
  const files = outputNames(plan, images.length);
  await Promise.all(images.map((img, i) => writeOut(plan, files[i], img, metadata, i)));
  if (o.metadata) writeFileSync(metadataName(plan), `${JSON.stringify(withShortHashes(metadata), null, 2)}\n`);
  const p = metadata.params;
  process.stderr.write(`wrote ${files.join(', ')}${o.metadata ? ` and ${metadataName(plan)}` : ''} (${metadata.outputWidth}x${metadata.outputHeight}, seed ${p.seed}, ${p.steps} steps ${p.sampler}, ${metadata.engine})\n`);
  return 0;
}

async function writeOut(plan: OutputPlan, file: string, img: Uint8Array | { width: number; height: number; data: Uint8Array }, metadata: ResultMetadata, i: number): Promise<void> {
  // The daemon's PNG already carries the parameters text: keep its bytes when the format is PNG.
  if (img instanceof Uint8Array && plan.format === 'png') {
    writeFileSync(file, img);
    return;
  }
  await writeImage(file, plan.format, img, resultText(metadata, i));
}

async function checkInputs(o: GenerateOptions, maxPixels: number, hint: string): Promise<CheckedInputs> {
  const check = (option: string, path: string) => checkImage(option, path, maxPixels, hint);
  const styles = await Promise.all((o.style ?? []).map((f) => check('--style', f)));
  const styleMasks = await Promise.all((o.styleMask ?? []).map((f) => check('--style-mask', f)));
  const controls: Array<CheckedInputs['controls'][number]> = [];
  if (o.pose && extname(o.pose).toLowerCase() === '.json') controls.push({ option: '--pose', type: 'pose', keypoints: readKeypoints(o.pose, o) });
  else if (o.pose) controls.push({ option: '--pose', type: 'pose', image: await check('--pose', o.pose) });
  for (const type of ['canny', 'depth'] as const) {
    const f = o[type];
    if (f) controls.push({ option: `--${type}`, type, image: await check(`--${type}`, f) });
  }
  return {
    styles,
    styleMasks,
    controls,
    init: o.init ? await check('--init', o.init) : undefined,
    mask: o.mask ? await check('--mask', o.mask) : undefined,
  };
}

function allImages(i: CheckedInputs): CheckedImage[] {
  return [...i.styles, ...i.styleMasks, ...i.controls.flatMap((c) => (c.image ? [c.image] : [])), ...(i.init ? [i.init] : []), ...(i.mask ? [i.mask] : [])];
}

/** The job message from the command line (the seed -1 means random: left out, the daemon picks one). */
export function jobMessage(o: GenerateOptions, inputs: CheckedInputs, jobId: string): JobMessage {
  const message: JobMessage = { type: 'job', jobId, prompt: o.prompt, output: { format: 'png' } };
  const set = <K extends keyof JobMessage>(k: K, val: JobMessage[K] | undefined): void => {
    if (val !== undefined) message[k] = val;
  };
  set('negativePrompt', o.negative);
  set('seed', o.seed === -1 ? undefined : o.seed);
  set('steps', o.steps);
  set('sampler', o.sampler);
  set('guidance', o.guidance);
  set('width', o.width);
  set('height', o.height);
  set('batchSize', o.batch);
  set('strength', o.strength);
  set('checkpoint', o.checkpoint);
  if (inputs.styles.length) {
    message.references = inputs.styles.map((_, i) => ({
      source: 'frame', scale: o.styleScale ?? 0.7, preset: o.stylePreset ?? 'reference', adapter: o.adapter ?? 'base',
      ...(inputs.styleMasks[i] ? { mask: { source: 'frame' as const } } : {}),
    }));
  }
  const scale = o.controlScale ?? 1;
  const controls: ControlSpec[] = inputs.controls.map((c): ControlSpec => {
    if (c.keypoints) return { source: 'keypoints', type: 'pose', scale, keypoints: c.keypoints };
    return { source: 'frame', type: c.type, scale, preprocess: o.preprocess ? (c.type === 'pose' ? 'pose-detect' : c.type) : 'none' };
  });
  if (controls.length) message.controls = controls;
  if (inputs.init) message.init = { source: 'frame' };
  if (inputs.mask) message.mask = { source: 'frame', crop: o.crop === true, feather: o.feather ?? 0, padding: o.padding ?? 32 };
  return message;
}

async function jobPayloads(i: CheckedInputs, maxPixels: number): Promise<JobInputs> {
  return {
    references: await Promise.all(i.styles.map((s) => toPayload(s, maxPixels))),
    referenceMasks: await Promise.all(i.styleMasks.map((s) => toPayload(s, maxPixels))),
    controls: await Promise.all(i.controls.map((c) => (c.image ? toPayload(c.image, maxPixels) : undefined))),
    init: i.init ? await toPayload(i.init, maxPixels) : undefined,
    mask: i.mask ? await toPayload(i.mask, maxPixels) : undefined,
  };
}

/** OpenPose JSON; files without a canvas size are taken to be at the generation size. */
function readKeypoints(path: string, o: GenerateOptions): PoseKeypoints {
  let j: { canvas_width?: number; canvas_height?: number; people?: Array<{ pose_keypoints_2d: number[] }> };
  try {
    j = JSON.parse(readInputFile('--pose', path).toString('utf8'));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`--pose ${path}: not JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(j.people)) throw new UsageError(`--pose ${path}: no "people" array (expected OpenPose keypoint JSON)`);
  return {
    canvas_width: j.canvas_width ?? o.width ?? 512,
    canvas_height: j.canvas_height ?? o.height ?? 512,
    people: j.people.map((p) => ({ pose_keypoints_2d: p.pose_keypoints_2d })),
  };
}

/**
 * The daemon and the engine name request fields (`references[0]`, `controls[1].image`, `init`); the
 * user typed options and files. Put those back into the message.
 */
function withOptionNames(e: unknown, inputs: CheckedInputs): unknown {
  const field = e instanceof BridgeError || e instanceof LocalJobError ? e.field : undefined;
  if (!field) return e;
  const m = /^(references|controls)\[(\d+)\](\.mask)?|^(init|mask)\b/.exec(field);
  if (!m) return e;
  const which = m[1] === 'references' ? (m[3] ? inputs.styleMasks : inputs.styles)[Number(m[2])] : m[1] === 'controls' ? inputs.controls[Number(m[2])] : m[4] === 'init' ? inputs.init : inputs.mask;
  if (!which) return e;
  const option = 'option' in which ? which.option : '';
  const file = 'path' in which ? which.path : 'image' in which && which.image ? which.image.path : '';
  const text = (e as Error).message.replace(` (field ${field})`, '');
  return new Error(`${option}${file ? ` ${file}` : ''}: ${text}`);
}
