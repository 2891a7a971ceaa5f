/**
 * One WebSocket connection: the hello handshake, message validation, a job's input frames collected and
 * decoded, rate limits, and the connection as a Subscriber of the jobs it watches. Every client mistake
 * becomes an `error` message; the connection stays usable.
 */
import type { WebSocket } from 'ws';
import { PROTOCOL_VERSION } from '../shared/protocol/constants.ts';
import { decodeFrameParts, encodeFrameHeader, FrameError, CLIENT_ROLES, type Frame, type FrameHeader, type FrameRole } from '../shared/protocol/frame.ts';
import type { Capabilities, ErrorCode, InputHashes, ServerMessage } from '../shared/protocol/messages.ts';
import { parseClientMessage, versionMismatchMessage, type NormalizedJob, type NormalizedSource, type ValidationContext } from '../shared/protocol/validate.ts';
import { sha256Hex, type BlobStore } from './blobs.ts';
import type { DaemonConfig } from './config.ts';
import { decodePixels, ImageError, type Pixels } from './image.ts';
import { errorMessage, type JobService, type Subscriber } from './jobs.ts';
import type { Logger } from './log.ts';
import type { DecodedInputs } from './pipeline.ts';
import { RateBucket } from './rate.ts';

/** Close code sent after a version-mismatch error. */
export const CLOSE_VERSION_MISMATCH = 4001;
/** Progress and error replies are skipped while this much is waiting to be sent to a slow client. */
const DROPPABLE_BACKLOG = 8 * 1024 * 1024;

export interface SessionDeps {
  config: DaemonConfig;
  jobs: JobService;
  blobs: BlobStore;
  log: Logger;
  capabilities: () => Promise<Capabilities>;
  serverVersion: string;
}

/** An input the job message declared: where it goes and where its pixels come from. */
interface Slot {
  role: FrameRole;
  index: number;
  /** Path of the image's spec in the job message, for errors. */
  field: string;
  from: NormalizedSource;
  /** Filled when the frame arrives, or at once for hash sources. */
  pixels?: Pixels;
  frame?: Frame;
  hash?: string;
}

/** Who is on the other end, when the server authenticated a user (the team front); none locally. */
export interface SessionIdentity {
  user: string;
  /** Shared by all of this user's connections, so the rate limit is per user. */
  bucket: RateBucket;
}

interface Receipt {
  job: NormalizedJob;
  slots: Slot[];
  timer: ReturnType<typeof setTimeout>;
}

let nextSessionId = 1;

export class Session implements Subscriber {
  readonly id = `c${nextSessionId++}`;
  label: string;
  private helloDone = false;
  private owner: string;
  readonly user?: string;
  private readonly receipts = new Map<string, Receipt>();
  private readonly bucket: RateBucket;
  private readonly helloTimer: ReturnType<typeof setTimeout>;
  private readonly validation: ValidationContext;
  private closed = false;

  constructor(private readonly ws: WebSocket, private readonly deps: SessionDeps, remote: string, identity?: SessionIdentity) {
    this.label = `${this.id}@${remote}`;
    // An authenticated user owns the jobs (fairness and ownership per user); else the client id or connection.
    this.user = identity?.user;
    this.owner = identity ? `user:${identity.user}` : this.id;
    this.bucket = identity?.bucket ?? new RateBucket(deps.config.jobRate, deps.config.jobBurst);
    this.validation = { maxPixels: deps.config.maxPixels, maxBatch: deps.config.maxBatch };
    this.helloTimer = setTimeout(() => this.ws.close(1008, 'no hello received'), deps.config.helloTimeoutMs);
    // Binary messages as their fragments: a frame sent as header + payload fragments is used without
    // joining them into a new 64 MiB buffer (text messages still arrive as one Buffer).
    ws.binaryType = 'fragments';
    ws.on('message', (data, isBinary) => {
      try {
        if (isBinary) this.onBinary(asParts(data));
        else this.onText(asBytes(data));
      } catch (e) {
        // A bug here must not take the daemon down: report and carry on.
        deps.log.error(`${this.label}: message handler failed`, e);
        this.sendError('internal', `internal error: ${(e as Error).message}`);
      }
    });
    ws.on('close', () => this.onClose());
  }

  // ------------------------------------------------------------ Subscriber

  send(m: ServerMessage, droppable = false): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    if (droppable && this.ws.bufferedAmount > DROPPABLE_BACKLOG) return;
    this.ws.send(JSON.stringify(m));
  }

  /** Header and payload go out as two fragments of one message: the payload is never copied. */
  sendFrame(h: FrameHeader, payload: Uint8Array, droppable = false): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    if (droppable && this.ws.bufferedAmount > DROPPABLE_BACKLOG) return;
    this.ws.send(encodeFrameHeader(h), { binary: true, fin: false });
    this.ws.send(payload, { binary: true, fin: true });
  }

  // ------------------------------------------------------------ incoming

  private onText(bytes: Buffer): void {
    const parsed = parseClientMessage(bytes.toString('utf8'), this.validation);
    if (!parsed.ok) {
      const e = parsed.error;
      this.sendError(e.code, e.message, e.jobId, e.field);
      return;
    }
    const m = parsed.value;
    if (m.type !== 'hello' && !this.helloDone) {
      this.sendError('hello-required', `send {"type":"hello","protocol":${PROTOCOL_VERSION}} first`);
      return;
    }
    switch (m.type) {
      case 'hello': return void this.onHello(m.protocol, m.client);
      case 'job': return void this.onJob(m.job);
      case 'cancel':
        if (this.receipts.has(m.jobId)) this.dropReceipt(m.jobId, null);
        else this.answer(this.deps.jobs.cancel(m.jobId, 'client', this), m.jobId, `no queued or running job "${m.jobId}"`);
        return;
      case 'resume':
        this.answer(this.deps.jobs.resume(m.jobId, this), m.jobId, `job "${m.jobId}" is not known (never submitted, or its result expired)`);
        return;
      case 'release':
        this.deps.jobs.release(m.jobId, this);
        return;
      case 'ping':
        this.send({ type: 'pong', ...(m.nonce !== undefined ? { nonce: m.nonce } : {}) });
        return;
    }
  }

  private async onHello(protocol: number, client: { name?: string; version?: string; id?: string } | undefined): Promise<void> {
    if (this.helloDone) {
      this.sendError('bad-message', 'hello was already received on this connection');
      return;
    }
    if (protocol !== PROTOCOL_VERSION) {
      const e = errorMessage('version-mismatch', versionMismatchMessage(protocol));
      this.send({ ...e, serverProtocol: PROTOCOL_VERSION });
      this.deps.log.warn(`${this.label}: ${client?.name ?? 'client'} speaks protocol ${protocol}, we speak ${PROTOCOL_VERSION}`);
      this.ws.close(CLOSE_VERSION_MISMATCH, 'protocol version mismatch');
      return;
    }
    this.helloDone = true;
    clearTimeout(this.helloTimer);
    if (client?.id && !this.user) this.owner = `id:${client.id}`;
    if (client?.name) this.label = `${this.id}:${client.name}${client.version ? `/${client.version}` : ''}`;
    this.deps.log.debug(`${this.label}: hello`);
    const capabilities = await this.deps.capabilities();
    this.send({ type: 'welcome', protocol: PROTOCOL_VERSION, server: { name: 'ipa-bridge', version: this.deps.serverVersion }, capabilities });
  }

  private onJob(job: NormalizedJob): void {
    const { jobs, config } = this.deps;
    const id = job.jobId;
    if (!jobs.engineAvailable) return this.sendError('engine-unavailable', `the daemon has no engine: ${jobs.engineErrorText}`, id);
    if (!this.takeToken()) return this.sendError('rate-limited', `more than ${config.jobBurst} jobs in a burst (${config.jobRate}/s sustained); wait and resend`, id);
    if (this.receipts.size + this.liveJobCount() >= config.maxJobsPerConnection) return this.sendError('queue-full', `this connection already has ${config.maxJobsPerConnection} jobs waiting`, id);
    if (jobs.queueFull) return this.sendError('queue-full', 'the daemon queue is full; try again later', id);
    if (!jobs.reserve(id, this)) return this.sendError('duplicate-job', `job id "${id}" is in use (running, queued, or its result is retained: send "resume" to fetch it, or "release" it)`, id, 'jobId');

    const slots = declaredSlots(job);
    for (const s of slots) {
      if (s.from.source !== 'hash') continue;
      const pixels = this.deps.blobs.get(s.from.hash);
      if (!pixels) {
        jobs.unreserve(id, this);
        return this.sendError('blob-missing', `the daemon no longer has image ${s.from.hash.slice(0, 12)}…; send it as a frame`, id, `${s.field}.hash`);
      }
      s.pixels = pixels; // held here, so eviction from the store cannot pull it away mid-job
      s.hash = s.from.hash;
    }
    const timer = setTimeout(() => {
      const missing = this.receipts.get(id)?.slots.filter((s) => !s.pixels && !s.frame).map((s) => s.field) ?? [];
      this.dropReceipt(id, { code: 'frames-timeout', message: `frames for ${missing.join(', ')} did not arrive within ${config.frameTimeoutMs} ms`, field: missing[0] });
    }, config.frameTimeoutMs);
    timer.unref?.();
    this.receipts.set(id, { job, slots, timer });
    this.maybeComplete(id);
  }

  private onBinary(parts: Buffer[]): void {
    if (!this.helloDone) return this.sendError('hello-required', 'binary frame before hello');
    let frame: Frame;
    try {
      frame = decodeFrameParts(parts);
    } catch (e) {
      if (e instanceof FrameError) return this.sendError('bad-frame', e.message);
      throw e;
    }
    const h = frame.header;
    if (!CLIENT_ROLES.includes(h.role)) return this.sendError('bad-frame', `clients cannot send "${h.role}" frames`, h.jobId);
    const r = this.receipts.get(h.jobId);
    if (!r) return this.sendError('unexpected-frame', `no job "${h.jobId}" is waiting for frames on this connection (send the job message first)`, h.jobId);
    const slot = r.slots.find((s) => s.role === h.role && s.index === h.index && s.from.source === 'frame');
    if (!slot) return this.sendError('unexpected-frame', `job "${h.jobId}" declared no ${h.role} frame #${h.index}`, h.jobId);
    if (slot.frame) return this.sendError('unexpected-frame', `${slot.field}: frame already received`, h.jobId, slot.field);
    const hash = sha256Hex(frame.payload);
    if (h.hash && h.hash !== hash) return this.dropReceipt(h.jobId, { code: 'hash-mismatch', message: `${slot.field}: frame hash does not match its payload (corrupted?)`, field: slot.field });
    slot.frame = frame;
    slot.hash = hash;
    this.maybeComplete(h.jobId);
  }

  /** All frames in: decode them (in parallel), store them by hash, queue the job. */
  private maybeComplete(id: string): void {
    const r = this.receipts.get(id);
    if (!r || r.slots.some((s) => !s.pixels && !s.frame)) return;
    clearTimeout(r.timer);
    this.receipts.delete(id);
    const maxPixels = this.deps.config.maxInputPixels;
    Promise.all(r.slots.map(async (s) => {
      if (s.pixels) return;
      const f = s.frame!;
      try {
        s.pixels = await decodePixels(f.payload, f.header.format, f.header.width, f.header.height, { premultiplied: f.header.premultiplied, maxPixels });
      } catch (e) {
        throw e instanceof ImageError ? Object.assign(e, { field: s.field }) : e;
      }
      s.frame = undefined;
      this.deps.blobs.put(s.hash!, s.pixels);
    })).then(() => {
      if (this.closed) return this.deps.jobs.unreserve(id, this);
      this.deps.jobs.submit(r.job, collect(r), this, this.owner);
    }, (e: Error & { field?: string }) => {
      this.deps.jobs.unreserve(id, this);
      if (e instanceof ImageError) this.sendError('image-decode', e.message, id, e.field);
      else {
        this.deps.log.error(`${this.label}: decoding inputs of ${id} failed`, e);
        this.sendError('internal', `internal error: ${e.message}`, id);
      }
    });
  }

  private dropReceipt(id: string, err: { code: ErrorCode; message: string; field?: string } | null): void {
    const r = this.receipts.get(id);
    if (!r) return;
    clearTimeout(r.timer);
    this.receipts.delete(id);
    this.deps.jobs.unreserve(id, this);
    if (err) this.sendError(err.code, err.message, id, err.field);
    else this.send({ type: 'cancelled', jobId: id, reason: 'client' });
  }

  private onClose(): void {
    this.closed = true;
    clearTimeout(this.helloTimer);
    for (const id of [...this.receipts.keys()]) this.dropReceipt(id, null);
    this.deps.jobs.detach(this);
    this.deps.log.debug(`${this.label}: closed`);
  }

  // ------------------------------------------------------------ helpers

  private sendError(code: ErrorCode, message: string, jobId?: string, field?: string): void {
    this.send(errorMessage(code, message, jobId, field), true);
  }

  /** Token bucket: `jobBurst` jobs at once, refilled at `jobRate` per second (per user on the team front). */
  private takeToken(): boolean {
    return this.bucket.take();
  }

  /** A cancel/resume answer: `unknown-job` when the service did not know the id (at once, or when its lookup ends). */
  private answer(known: boolean | Promise<boolean>, jobId: string, unknownText: string): void {
    if (typeof known === 'boolean') {
      if (!known) this.sendError('unknown-job', unknownText, jobId);
      return;
    }
    known.then((ok) => {
      if (!ok) this.sendError('unknown-job', unknownText, jobId);
    }, (e: Error & { code?: ErrorCode }) => this.sendError(e.code ?? 'internal', e.message, jobId));
  }

  private liveJobCount(): number {
    return this.deps.jobs.countWatchedBy(this);
  }
}

/** The images a job message says will follow as frames or come from the blob store. */
function declaredSlots(job: NormalizedJob): Slot[] {
  const slots: Slot[] = [];
  if (job.init) slots.push({ role: 'init', index: 0, field: 'init', from: job.init });
  if (job.mask) slots.push({ role: 'mask', index: 0, field: 'mask', from: job.mask.from });
  job.references.forEach((r, i) => {
    slots.push({ role: 'reference', index: i, field: `references[${i}]`, from: r.from });
    if (r.mask) slots.push({ role: 'reference-mask', index: i, field: `references[${i}].mask`, from: r.mask.from });
  });
  job.controls.forEach((c, i) => {
    if (c.from.source !== 'keypoints') slots.push({ role: 'control', index: i, field: `controls[${i}]`, from: c.from });
  });
  return slots;
}

function collect(r: Receipt): DecodedInputs {
  const get = (role: FrameRole, index: number): Slot | undefined => r.slots.find((s) => s.role === role && s.index === index);
  const hashes: InputHashes = {
    references: r.job.references.map((_, i) => get('reference', i)?.hash ?? null),
    controls: r.job.controls.map((_, i) => get('control', i)?.hash ?? null),
    ...(r.job.references.some((ref) => ref.mask) ? { referenceMasks: r.job.references.map((_, i) => get('reference-mask', i)?.hash ?? null) } : {}),
  };
  const init = get('init', 0);
  const mask = get('mask', 0);
  if (init?.hash) hashes.init = init.hash;
  if (mask?.hash) hashes.mask = mask.hash;
  return {
    init: init?.pixels,
    mask: mask?.pixels,
    references: r.job.references.map((_, i) => get('reference', i)!.pixels!),
    referenceMasks: r.job.references.map((_, i) => get('reference-mask', i)?.pixels),
    controls: r.job.controls.map((_, i) => get('control', i)?.pixels ?? null),
    hashes,
  };
}

function asParts(data: unknown): Buffer[] {
  if (Array.isArray(data)) return data as Buffer[];
  return [asBytes(data)];
}

function asBytes(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  return Buffer.from(data as ArrayBuffer);
}
