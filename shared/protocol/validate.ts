/**
 * Validation of client messages: every field checked against limits, unknown fields refused, and the
 * first problem reported with the path of the field (`references[0].scale`). Defaults are filled in so
 * the daemon works with a complete `NormalizedJob`. Plugins can run the same checks before sending.
 */
import { PROTOCOL_VERSION } from './constants.ts';
import * as L from './limits.ts';
import {
  ADAPTER_KINDS, BLOCK_PRESETS, CLIENT_MESSAGE_TYPES, CONTROL_PREPROCESS, CONTROL_TYPES, OUTPUT_FORMATS, SAMPLERS,
  type AdapterKind, type BlockPreset, type ClientMessage, type ControlPreprocess, type ControlType, type ErrorCode,
  type HelloMessage, type JobParams, type LoraSpec, type OutputFormat, type PoseKeypoints, type SamplerName, type StepRange,
} from './messages.ts';

/** Longest JSON text message the daemon parses (images travel as binary frames). */
export const MAX_TEXT_MESSAGE = 1 << 20;

export interface ValidationContext {
  maxPixels: number;
  maxBatch: number;
  samplers?: readonly SamplerName[];
}

export const DEFAULT_VALIDATION: ValidationContext = { maxPixels: L.DEFAULT_MAX_PIXELS, maxBatch: L.DEFAULT_MAX_BATCH };

export interface ProtocolProblem {
  code: ErrorCode;
  message: string;
  field?: string;
  jobId?: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: ProtocolProblem };

/** The job fields the validator fills when a job leaves them out (empty negative prompt, default strength, batch 1, default clip skip, no LoRAs). */
type DefaultedParams = 'negativePrompt' | 'strength' | 'batchSize' | 'clipSkip' | 'loras';

/** A job's parameters after validation: the defaulted fields always present; the others stay absent when left out (seed: the daemon picks one; steps, sampler, guidance, size: the daemon fills them from the checkpoint's family). */
export type NormalizedParams = Omit<JobParams, DefaultedParams> & Required<Pick<JobParams, DefaultedParams>>;

/** A frame that follows the job message, or a blob the daemon should already hold. */
export type NormalizedSource = { source: 'frame' } | { source: 'hash'; hash: string };

export interface NormalizedMask {
  from: NormalizedSource;
  feather: number;
  crop: boolean;
  padding: number;
  invert: boolean;
}

export interface NormalizedReference {
  from: NormalizedSource;
  mask?: { from: NormalizedSource; invert: boolean };
  adapter: AdapterKind;
  scale: number;
  preset: BlockPreset;
  range: StepRange;
  model?: string;
  group?: string;
  combine?: 'concat' | 'average';
}

export interface NormalizedControl {
  from: NormalizedSource | { source: 'keypoints'; keypoints: PoseKeypoints };
  type: ControlType;
  preprocess: ControlPreprocess;
  scale: number;
  range: StepRange;
  guessMode: boolean;
  model?: string;
  low?: number;
  high?: number;
}

export interface NormalizedJob {
  jobId: string;
  params: NormalizedParams;
  init?: NormalizedSource;
  mask?: NormalizedMask;
  references: NormalizedReference[];
  controls: NormalizedControl[];
  output: { format: OutputFormat; preview: boolean; controlImages: boolean };
}

export type ValidMessage =
  | HelloMessage
  | { type: 'job'; job: NormalizedJob }
  | { type: 'cancel' | 'resume' | 'release'; jobId: string }
  | { type: 'ping'; nonce?: string | number };

class Invalid extends Error {
  constructor(readonly field: string, message: string, readonly code: ErrorCode = 'invalid-field') {
    super(message);
  }
}

/** Parses and validates one JSON text message. Never throws. */
export function parseClientMessage(text: string, ctx: ValidationContext = DEFAULT_VALIDATION): Parsed<ValidMessage> {
  if (text.length > MAX_TEXT_MESSAGE) return fail('bad-message', `text message of ${text.length} characters is over ${MAX_TEXT_MESSAGE}; images go in binary frames`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return fail('bad-json', `not JSON: ${(e as Error).message.slice(0, 200)}`);
  }
  return validateClientMessage(raw, ctx);
}

/** Validates an already parsed message. Never throws. */
export function validateClientMessage(raw: unknown, ctx: ValidationContext = DEFAULT_VALIDATION): Parsed<ValidMessage> {
  const jobId = isRecord(raw) && typeof raw.jobId === 'string' && L.JOB_ID_PATTERN.test(raw.jobId) ? raw.jobId : undefined;
  try {
    return { ok: true, value: message(raw, ctx) };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: { code: e.code, message: e.message, field: e.field || undefined, jobId } };
    return { ok: false, error: { code: 'internal', message: `validator failed: ${(e as Error).message}`, jobId } };
  }
}

/** Checks a job message as a client would build it (for plugins: catch mistakes before sending). */
export function validateJob(raw: unknown, ctx: ValidationContext = DEFAULT_VALIDATION): Parsed<NormalizedJob> {
  const r = validateClientMessage(raw, ctx);
  if (!r.ok) return r;
  if (r.value.type !== 'job') return fail('bad-message', 'not a job message', 'type');
  return { ok: true, value: r.value.job };
}

function fail(code: ErrorCode, message: string, field?: string): { ok: false; error: ProtocolProblem } {
  return { ok: false, error: { code, message, field } };
}

function message(raw: unknown, ctx: ValidationContext): ValidMessage {
  const o = record(raw, '');
  const type = o.type;
  if (typeof type !== 'string') throw new Invalid('type', 'message needs a string "type"', 'bad-message');
  if (!(CLIENT_MESSAGE_TYPES as readonly string[]).includes(type)) {
    throw new Invalid('type', `unknown message type ${JSON.stringify(type.slice(0, 40))} (known: ${CLIENT_MESSAGE_TYPES.join(', ')})`, 'bad-message');
  }
  switch (type) {
    case 'hello': return hello(o);
    case 'job': return { type: 'job', job: job(o, ctx) };
    case 'cancel': case 'resume': case 'release':
      known(o, ['type', 'jobId'], '');
      return { type, jobId: jobIdField(o.jobId, 'jobId') };
    default: {
      known(o, ['type', 'nonce'], '');
      if (o.nonce === undefined) return { type: 'ping' };
      if (typeof o.nonce === 'number' && Number.isFinite(o.nonce)) return { type: 'ping', nonce: o.nonce };
      return { type: 'ping', nonce: str(o.nonce, 'nonce', 0, L.MAX_CLIENT_STRING) };
    }
  }
}

function hello(o: Record<string, unknown>): HelloMessage {
  known(o, ['type', 'protocol', 'client'], '');
  // The version is checked by the daemon (it answers with a version-mismatch message), so only its type here.
  const protocol = int(o.protocol, 'protocol', 0, 0xffff);
  if (o.client === undefined) return { type: 'hello', protocol };
  const c = record(o.client, 'client');
  known(c, ['name', 'version', 'id'], 'client');
  const client: NonNullable<HelloMessage['client']> = {};
  if (c.name !== undefined) client.name = str(c.name, 'client.name', 0, L.MAX_CLIENT_STRING);
  if (c.version !== undefined) client.version = str(c.version, 'client.version', 0, L.MAX_CLIENT_STRING);
  if (c.id !== undefined) client.id = str(c.id, 'client.id', 1, L.MAX_CLIENT_STRING);
  return { type: 'hello', protocol, client };
}

const JOB_FIELDS = [
  'type', 'jobId', 'prompt', 'negativePrompt', 'seed', 'steps', 'sampler', 'guidance', 'width', 'height', 'strength',
  'batchSize', 'clipSkip', 'variationSeed', 'variationStrength', 'checkpoint', 'loras', 'init', 'mask', 'references',
  'controls', 'output', 'eta', 'draftDecode',
];

function job(o: Record<string, unknown>, ctx: ValidationContext): NormalizedJob {
  const jobId = jobIdField(o.jobId, 'jobId');
  known(o, JOB_FIELDS, '');
  const samplers = ctx.samplers ?? SAMPLERS;
  const params: NormalizedParams = {
    prompt: str(o.prompt, 'prompt', 0, L.MAX_PROMPT_LENGTH),
    negativePrompt: opt(o.negativePrompt, '', (v) => str(v, 'negativePrompt', 0, L.MAX_PROMPT_LENGTH)),
    strength: opt(o.strength, L.STRENGTH.default, (v) => num(v, 'strength', L.STRENGTH.min, L.STRENGTH.max)),
    batchSize: opt(o.batchSize, 1, (v) => int(v, 'batchSize', 1, ctx.maxBatch)),
    clipSkip: opt(o.clipSkip, L.CLIP_SKIP.default, (v) => int(v, 'clipSkip', L.CLIP_SKIP.min, L.CLIP_SKIP.max)),
    loras: opt(o.loras, [], (v) => list(v, 'loras', L.MAX_LORAS, lora)),
  };
  // Steps, sampler, guidance and size have no default here: they depend on the checkpoint's family.
  if (o.steps !== undefined) params.steps = int(o.steps, 'steps', L.STEPS.min, L.STEPS.max);
  if (o.sampler !== undefined) params.sampler = oneOf(o.sampler, 'sampler', samplers);
  if (o.guidance !== undefined) params.guidance = num(o.guidance, 'guidance', L.GUIDANCE.min, L.GUIDANCE.max);
  if (o.seed !== undefined) params.seed = int(o.seed, 'seed', 0, L.SEED_MAX);
  if (o.variationSeed !== undefined) params.variationSeed = int(o.variationSeed, 'variationSeed', 0, L.SEED_MAX);
  if (o.variationStrength !== undefined) params.variationStrength = num(o.variationStrength, 'variationStrength', 0, 1);
  if (o.checkpoint !== undefined) params.checkpoint = modelName(o.checkpoint, 'checkpoint');
  if (o.eta !== undefined) params.eta = num(o.eta, 'eta', 0, 1);
  if (o.draftDecode !== undefined) params.draftDecode = bool(o.draftDecode, 'draftDecode');

  const out: NormalizedJob = { jobId, params, references: [], controls: [], output: output(o.output) };
  if (o.init !== undefined) out.init = imageSource(o.init, 'init', ['source', 'hash']);
  if (o.mask !== undefined) {
    if (!out.init) throw new Invalid('mask', 'a mask needs an init image (send "init" too)');
    out.mask = mask(o.mask);
  }
  size(o, params, ctx);
  out.references = opt(o.references, [], (v) => list(v, 'references', L.MAX_REFERENCES, reference));
  out.controls = opt(o.controls, [], (v) => list(v, 'controls', L.MAX_CONTROLS, control));
  return out;
}

/** width/height: both or neither; multiples of 8 within the pixel budget. */
function size(o: Record<string, unknown>, p: NormalizedParams, ctx: ValidationContext): void {
  if (o.width === undefined && o.height === undefined) return;
  if (o.width === undefined) throw new Invalid('width', 'give both width and height, or neither');
  if (o.height === undefined) throw new Invalid('height', 'give both width and height, or neither');
  const w = int(o.width, 'width', L.SIZE.min, L.SIZE.max);
  const h = int(o.height, 'height', L.SIZE.min, L.SIZE.max);
  if (w % L.SIZE.multiple) throw new Invalid('width', `width ${w} is not a multiple of ${L.SIZE.multiple}`);
  if (h % L.SIZE.multiple) throw new Invalid('height', `height ${h} is not a multiple of ${L.SIZE.multiple}`);
  if (w * h > ctx.maxPixels) {
    throw new Invalid('width', `${w}x${h} = ${w * h} pixels is over the daemon's budget of ${ctx.maxPixels} pixels (start it with a larger --max-pixels, or generate smaller)`);
  }
  p.width = w;
  p.height = h;
}

function lora(v: unknown, path: string): LoraSpec {
  const o = record(v, path);
  known(o, ['model', 'strength'], path);
  return { model: modelName(o.model, `${path}.model`), strength: num(o.strength, `${path}.strength`, L.LORA_STRENGTH.min, L.LORA_STRENGTH.max) };
}

function imageSource(v: unknown, path: string, fields: string[]): NormalizedSource {
  const o = record(v, path);
  known(o, fields, path);
  return sourceOf(o, path, false) as NormalizedSource;
}

function sourceOf(o: Record<string, unknown>, path: string, allowKeypoints: boolean): NormalizedControl['from'] {
  const kinds = allowKeypoints ? ['frame', 'hash', 'keypoints'] as const : ['frame', 'hash'] as const;
  const source = oneOf(o.source, `${path}.source`, kinds);
  if (source === 'hash') return { source, hash: hashField(o.hash, `${path}.hash`) };
  if (o.hash !== undefined) throw new Invalid(`${path}.hash`, `"hash" only goes with source "hash" (source is "${source}")`);
  if (source === 'keypoints') return { source, keypoints: keypoints(o.keypoints, `${path}.keypoints`) };
  if (o.keypoints !== undefined) throw new Invalid(`${path}.keypoints`, '"keypoints" only goes with source "keypoints"');
  return { source };
}

function mask(v: unknown): NormalizedMask {
  const o = record(v, 'mask');
  known(o, ['source', 'hash', 'feather', 'crop', 'padding', 'invert'], 'mask');
  return {
    from: sourceOf(o, 'mask', false) as NormalizedSource,
    feather: opt(o.feather, L.FEATHER.default, (x) => num(x, 'mask.feather', L.FEATHER.min, L.FEATHER.max)),
    crop: opt(o.crop, false, (x) => bool(x, 'mask.crop')),
    padding: opt(o.padding, L.PADDING.default, (x) => int(x, 'mask.padding', L.PADDING.min, L.PADDING.max)),
    invert: opt(o.invert, false, (x) => bool(x, 'mask.invert')),
  };
}

function reference(v: unknown, path: string): NormalizedReference {
  const o = record(v, path);
  known(o, ['source', 'hash', 'adapter', 'scale', 'preset', 'range', 'model', 'group', 'combine', 'mask'], path);
  const r: NormalizedReference = {
    from: sourceOf(o, path, false) as NormalizedSource,
    adapter: opt(o.adapter, 'base' as AdapterKind, (x) => oneOf(x, `${path}.adapter`, ADAPTER_KINDS)),
    scale: opt(o.scale, L.REFERENCE_SCALE.default, (x) => num(x, `${path}.scale`, L.REFERENCE_SCALE.min, L.REFERENCE_SCALE.max)),
    preset: opt(o.preset, 'reference' as BlockPreset, (x) => oneOf(x, `${path}.preset`, BLOCK_PRESETS)),
    range: opt(o.range, { start: 0, end: 1 }, (x) => range(x, `${path}.range`)),
  };
  if (o.model !== undefined) r.model = modelName(o.model, `${path}.model`);
  if (o.group !== undefined) r.group = str(o.group, `${path}.group`, 1, 64);
  if (o.combine !== undefined) r.combine = oneOf(o.combine, `${path}.combine`, ['concat', 'average'] as const);
  if (o.mask !== undefined) r.mask = referenceMask(o.mask, `${path}.mask`);
  return r;
}

function referenceMask(v: unknown, path: string): { from: NormalizedSource; invert: boolean } {
  const o = record(v, path);
  known(o, ['source', 'hash', 'invert'], path);
  return { from: sourceOf(o, path, false) as NormalizedSource, invert: opt(o.invert, false, (x) => bool(x, `${path}.invert`)) };
}

function control(v: unknown, path: string): NormalizedControl {
  const o = record(v, path);
  known(o, ['source', 'hash', 'keypoints', 'type', 'preprocess', 'scale', 'range', 'guessMode', 'model', 'low', 'high'], path);
  const c: NormalizedControl = {
    from: sourceOf(o, path, true),
    type: oneOf(o.type, `${path}.type`, CONTROL_TYPES),
    preprocess: opt(o.preprocess, 'none' as ControlPreprocess, (x) => oneOf(x, `${path}.preprocess`, CONTROL_PREPROCESS)),
    scale: opt(o.scale, L.CONTROL_SCALE.default, (x) => num(x, `${path}.scale`, L.CONTROL_SCALE.min, L.CONTROL_SCALE.max)),
    range: opt(o.range, { start: 0, end: 1 }, (x) => range(x, `${path}.range`)),
    guessMode: opt(o.guessMode, false, (x) => bool(x, `${path}.guessMode`)),
  };
  if (c.from.source === 'keypoints' && c.type !== 'pose') throw new Invalid(`${path}.type`, 'keypoints only make a "pose" control');
  if (c.from.source === 'keypoints' && c.preprocess !== 'none') throw new Invalid(`${path}.preprocess`, 'keypoints are drawn as a skeleton: preprocess must be "none"');
  if (o.model !== undefined) c.model = modelName(o.model, `${path}.model`);
  if (o.low !== undefined) c.low = num(o.low, `${path}.low`, 0, 255);
  if (o.high !== undefined) c.high = num(o.high, `${path}.high`, 0, 255);
  if (c.low !== undefined && c.high !== undefined && c.low > c.high) throw new Invalid(`${path}.low`, `low threshold ${c.low} is above high ${c.high}`);
  return c;
}

function keypoints(v: unknown, path: string): PoseKeypoints {
  const o = record(v, path);
  // OpenPose files carry more (version, face/hand keypoints): only what we draw is checked and kept.
  const canvas_width = int(o.canvas_width, `${path}.canvas_width`, 1, L.MAX_FRAME_SIDE);
  const canvas_height = int(o.canvas_height, `${path}.canvas_height`, 1, L.MAX_FRAME_SIDE);
  const people = list(o.people, `${path}.people`, L.MAX_POSE_PEOPLE, (p, pp) => {
    const po = record(p, pp);
    const k = po.pose_keypoints_2d;
    const kp = `${pp}.pose_keypoints_2d`;
    if (!Array.isArray(k)) throw new Invalid(kp, 'must be an array of numbers (x, y, confidence per keypoint)');
    if (!L.POSE_KEYPOINT_LENGTHS.includes(k.length)) throw new Invalid(kp, `has ${k.length} numbers; expected ${L.POSE_KEYPOINT_LENGTHS.join(' or ')} (18 or 25 keypoints × 3)`);
    return { pose_keypoints_2d: k.map((x, i) => num(x, `${kp}[${i}]`, -1e6, 1e6)) };
  });
  return { canvas_width, canvas_height, people };
}

function output(v: unknown): NormalizedJob['output'] {
  if (v === undefined) return { format: 'png', preview: false, controlImages: false };
  const o = record(v, 'output');
  known(o, ['format', 'preview', 'controlImages'], 'output');
  return {
    format: opt(o.format, 'png' as OutputFormat, (x) => oneOf(x, 'output.format', OUTPUT_FORMATS)),
    preview: opt(o.preview, false, (x) => bool(x, 'output.preview')),
    controlImages: opt(o.controlImages, false, (x) => bool(x, 'output.controlImages')),
  };
}

function range(v: unknown, path: string): StepRange {
  const o = record(v, path);
  known(o, ['start', 'end'], path);
  const start = num(o.start, `${path}.start`, 0, 1);
  const end = num(o.end, `${path}.end`, 0, 1);
  if (start >= end) throw new Invalid(`${path}.start`, `start ${start} must be below end ${end}`);
  return { start, end };
}

// ---------------------------------------------------------------- primitives

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function record(v: unknown, path: string): Record<string, unknown> {
  if (!isRecord(v)) throw new Invalid(path, `${path || 'message'} must be an object, got ${describe(v)}`, path ? 'invalid-field' : 'bad-message');
  return v;
}

function known(o: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) {
      const f = path ? `${path}.${k}` : k;
      throw new Invalid(f, `unknown field "${k.slice(0, 40)}"${path ? ` in ${path}` : ''} (a newer plugin than this daemon? update the bridge)`);
    }
  }
}

function opt<T>(v: unknown, dflt: T, check: (v: unknown) => T): T {
  return v === undefined ? dflt : check(v);
}

function num(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Invalid(path, `${path} must be a finite number, got ${describe(v)}`);
  if (v < min || v > max) throw new Invalid(path, `${path} is ${v}; allowed ${min} to ${max}`);
  return v;
}

function int(v: unknown, path: string, min: number, max: number): number {
  const n = num(v, path, min, max);
  if (!Number.isInteger(n)) throw new Invalid(path, `${path} must be a whole number, got ${n}`);
  return n;
}

function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') throw new Invalid(path, `${path} must be true or false, got ${describe(v)}`);
  return v;
}

function str(v: unknown, path: string, min: number, max: number): string {
  if (typeof v !== 'string') throw new Invalid(path, `${path} must be a string, got ${describe(v)}`);
  if (v.length < min) throw new Invalid(path, min === 1 ? `${path} must not be empty` : `${path} needs at least ${min} characters`);
  if (v.length > max) throw new Invalid(path, `${path} is ${v.length} characters; at most ${max}`);
  return v;
}

function oneOf<T extends string>(v: unknown, path: string, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new Invalid(path, `${path} must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${describe(v)}`);
  }
  return v as T;
}

function list<T>(v: unknown, path: string, max: number, item: (v: unknown, path: string) => T): T[] {
  if (!Array.isArray(v)) throw new Invalid(path, `${path} must be an array, got ${describe(v)}`);
  if (v.length > max) throw new Invalid(path, `${path} has ${v.length} entries; at most ${max}`);
  return v.map((x, i) => item(x, `${path}[${i}]`));
}

function jobIdField(v: unknown, path: string): string {
  const s = str(v, path, 1, L.MAX_JOB_ID_LENGTH);
  if (!L.JOB_ID_PATTERN.test(s)) throw new Invalid(path, `${path} may only use A-Z a-z 0-9 . _ : -`);
  return s;
}

function hashField(v: unknown, path: string): string {
  const s = str(v, path, 0, 64);
  if (!L.HASH_PATTERN.test(s)) throw new Invalid(path, `${path} must be a sha256 in lowercase hex (64 digits)`);
  return s;
}

/** Registry names: no path tricks, no control characters. */
function modelName(v: unknown, path: string): string {
  const s = str(v, path, 1, L.MAX_NAME_LENGTH);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\\]/.test(s) || s.split('/').includes('..') || s.startsWith('/')) {
    throw new Invalid(path, `${path} must be a model name from the registry, not a path`);
  }
  return s;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 30 ? `${v.slice(0, 30)}…` : v)}`;
  if (typeof v === 'number') return String(v);
  return typeof v === 'object' ? 'an object' : typeof v;
}

/** What the daemon says when a client speaks another protocol version: which side to update. */
export function versionMismatchMessage(clientProtocol: number, serverProtocol: number = PROTOCOL_VERSION): string {
  if (clientProtocol > serverProtocol) {
    return `This plugin speaks protocol ${clientProtocol}, but the ipa-bridge daemon speaks protocol ${serverProtocol}: update the bridge (npm install -g ipa-bridge@latest, or git pull && npm install in your checkout) and restart it.`;
  }
  return `This plugin speaks protocol ${clientProtocol}, but the ipa-bridge daemon speaks protocol ${serverProtocol}: update the plugin (reinstall it from the bridge's dist/ folder, or from the plugin store).`;
}
