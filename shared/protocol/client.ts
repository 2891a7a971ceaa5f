/**
 * A protocol client over any WebSocket with the browser API (browser/UXP/Figma UI `WebSocket`, or the
 * `ws` package in Node). Handles the hello handshake, sends a job's images as binary frames (or by hash
 * when the daemon already has them, resending on `blob-missing`), routes progress/preview/result frames
 * by job id, and resumes jobs after a reconnect. No Node APIs.
 */
import { PROTOCOL_VERSION } from './constants.ts';
import { decodeFrame, decodeFrameParts, encodeFrameHeader, type Frame, type FrameFormat, type FrameRole } from './frame.ts';
import type {
  AcceptedMessage, CancelledMessage, ErrorCode, ErrorMessage, HelloMessage, ImageDescriptor, JobMessage,
  ProgressMessage, QueuedMessage, ResultMessage, ServerMessage, StartedMessage, WelcomeMessage,
} from './messages.ts';

/** The part of the WebSocket API the client uses. */
export interface SocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  onopen: unknown;
  onmessage: unknown;
  onclose: unknown;
  onerror: unknown;
}

/**
 * The `ws` package's socket (Node: the CLI, tests, benchmarks) can send one message as several fragments
 * and deliver a received one as its fragments. BridgeClient uses that, when the socket has it, so a frame's
 * header and a 64 MiB payload are never joined into a new buffer on either side.
 */
interface FragmentingSocket extends SocketLike {
  send(data: string | ArrayBuffer | ArrayBufferView, options?: { binary?: boolean; fin?: boolean }): void;
  ping(): void;
  terminate(): void;
}

function isFragmenting(s: SocketLike): s is FragmentingSocket {
  const f = s as Partial<FragmentingSocket>;
  return typeof f.ping === 'function' && typeof f.terminate === 'function' && s.send.length >= 2;
}

/** An image to send: raw RGBA8 / gray8 pixels, or PNG/JPEG bytes. */
export interface ImagePayload {
  format: FrameFormat;
  /** Required for raw formats; 0 lets the daemon read it from PNG/JPEG. */
  width: number;
  height: number;
  data: Uint8Array;
  premultiplied?: boolean;
  /** sha256 hex of `data`, if known: lets the client send the hash instead of the bytes. */
  hash?: string;
}

export interface JobInputs {
  init?: ImagePayload;
  mask?: ImagePayload;
  references?: Array<ImagePayload | undefined>;
  controls?: Array<ImagePayload | undefined>;
  /** Masks of references whose spec has `mask` (same positions as `references`). */
  referenceMasks?: Array<ImagePayload | undefined>;
}

export interface ReceivedImage {
  descriptor: ImageDescriptor;
  data: Uint8Array;
}

export interface JobOutcome {
  result: ResultMessage;
  images: ReceivedImage[];
  controlImages: ReceivedImage[];
}

export interface JobHandlers {
  onAccepted?: (m: AcceptedMessage) => void;
  onQueued?: (m: QueuedMessage) => void;
  onStarted?: (m: StartedMessage) => void;
  onProgress?: (m: ProgressMessage) => void;
  /** Raw RGBA8 preview of the current latents (only with `output.preview`). */
  onPreview?: (img: { width: number; height: number; data: Uint8Array; step: number }) => void;
}

export class BridgeError extends Error {
  constructor(readonly code: ErrorCode | 'closed' | 'cancelled', message: string, readonly field?: string, readonly jobId?: string) {
    super(field ? `${message} (field ${field})` : message);
    this.name = 'BridgeError';
  }
}

interface PendingJob {
  handlers: JobHandlers;
  resolve: (o: JobOutcome) => void;
  reject: (e: BridgeError) => void;
  /** Set while a result's frames are still arriving. */
  result?: ResultMessage;
  images: Map<number, Uint8Array>;
  controlImages: Map<number, Uint8Array>;
  /** For an automatic resend with frames when the daemon lost a blob. */
  retry?: () => void;
}

export interface ClientInfo {
  name: string;
  version: string;
  /** Stable per installation: the daemon queues fairly per client id. */
  id?: string;
}

export class BridgeClient {
  readonly ready: Promise<WelcomeMessage>;
  welcome?: WelcomeMessage;
  /** Errors that concern no job of this client (e.g. `bad-frame`), for logging. */
  onUnhandledError?: (e: ErrorMessage) => void;
  /** Blob hashes the daemon confirmed it holds (from `accepted.inputs`). */
  readonly knownHashes = new Set<string>();
  private readonly jobs = new Map<string, PendingJob>();
  private readonly pongs = new Map<string, () => void>();
  private closed?: BridgeError;
  private pingSeq = 0;
  private readonly fragmenting: boolean;
  private settleReady!: { resolve: (w: WelcomeMessage) => void; reject: (e: BridgeError) => void };

  constructor(private readonly socket: SocketLike, private readonly info: ClientInfo) {
    this.ready = new Promise((resolve, reject) => (this.settleReady = { resolve, reject }));
    this.ready.catch(() => undefined); // a failed handshake is reported through `ready` and every job
    this.fragmenting = isFragmenting(socket);
    socket.binaryType = this.fragmenting ? 'fragments' : 'arraybuffer';
    socket.onmessage = (ev: { data: unknown }) => this.onMessage(ev.data);
    socket.onclose = (ev: { code: number; reason: string }) => this.onClose(ev.code, ev.reason);
    socket.onerror = () => undefined; // followed by close, which carries the details
    const hello = (): void => {
      const m: HelloMessage = { type: 'hello', protocol: PROTOCOL_VERSION, client: { name: info.name, version: info.version, ...(info.id ? { id: info.id } : {}) } };
      socket.send(JSON.stringify(m));
    };
    if (socket.readyState === 1) hello();
    else socket.onopen = hello;
  }

  /**
   * Sends a job and its images. Images whose `hash` the daemon is known to hold go by hash; the others as
   * frames. Resolves with the result and its images; rejects with a BridgeError (`field` names the problem).
   */
  submit(job: JobMessage, inputs: JobInputs = {}, handlers: JobHandlers = {}): Promise<JobOutcome> {
    return new Promise<JobOutcome>((resolve, reject) => {
      if (this.closed) return reject(this.closed);
      if (this.jobs.has(job.jobId)) return reject(new BridgeError('duplicate-job', `job ${job.jobId} is already in flight on this connection`, 'jobId', job.jobId));
      const pending: PendingJob = { handlers, resolve, reject, images: new Map(), controlImages: new Map() };
      this.jobs.set(job.jobId, pending);
      const send = (useHashes: boolean): void => {
        const { message, frames } = planJob(job, inputs, useHashes ? this.knownHashes : new Set());
        this.socket.send(JSON.stringify(message));
        for (const f of frames) this.sendFrame(job.jobId, f.role, f.index, f.image);
      };
      pending.retry = () => {
        pending.retry = undefined; // once
        send(false);
      };
      this.ready.then(() => send(true), reject);
    });
  }

  /** Re-attaches to a job after a reconnect; resolves like submit. */
  resume(jobId: string, handlers: JobHandlers = {}): Promise<JobOutcome> {
    return new Promise<JobOutcome>((resolve, reject) => {
      if (this.closed) return reject(this.closed);
      this.jobs.set(jobId, { handlers, resolve, reject, images: new Map(), controlImages: new Map() });
      this.ready.then(() => this.socket.send(JSON.stringify({ type: 'resume', jobId })), reject);
    });
  }

  cancel(jobId: string): void {
    if (!this.closed) this.socket.send(JSON.stringify({ type: 'cancel', jobId }));
  }

  /** Tells the daemon it may drop the retained result now. */
  release(jobId: string): void {
    if (!this.closed) this.socket.send(JSON.stringify({ type: 'release', jobId }));
  }

  /** Round trip through the daemon; resolves with the milliseconds it took. */
  ping(): Promise<number> {
    const nonce = `p${++this.pingSeq}`;
    const t0 = Date.now();
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(this.closed);
      this.pongs.set(nonce, () => resolve(Date.now() - t0));
      this.socket.send(JSON.stringify({ type: 'ping', nonce }));
    });
  }

  close(): void {
    this.socket.close(1000, 'client closed');
  }

  private sendFrame(jobId: string, role: FrameRole, index: number, img: ImagePayload): void {
    const header = encodeFrameHeader({ role, format: img.format, jobId, index, width: img.width, height: img.height, premultiplied: img.premultiplied ?? false, hash: img.hash });
    if (this.fragmenting) {
      // Two fragments of one message, sent back to back (nothing can come between them): no copy.
      const s = this.socket as FragmentingSocket;
      s.send(header, { binary: true, fin: false });
      s.send(img.data, { binary: true, fin: true });
      return;
    }
    // The browser API sends whole messages only: header and payload go out as one buffer.
    const out = new Uint8Array(header.length + img.data.length);
    out.set(header, 0);
    out.set(img.data, header.length);
    this.socket.send(out);
  }

  private onMessage(data: unknown): void {
    if (typeof data === 'string') {
      let m: ServerMessage;
      try {
        m = JSON.parse(data) as ServerMessage;
      } catch {
        return;
      }
      this.onJson(m);
    } else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data) || Array.isArray(data)) {
      let f: Frame;
      try {
        if (Array.isArray(data)) f = decodeFrameParts(data as Uint8Array[]);
        else f = decodeFrame(data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      } catch {
        return;
      }
      this.onFrame(f);
    }
  }

  private onJson(m: ServerMessage): void {
    switch (m.type) {
      case 'welcome':
        this.welcome = m;
        this.settleReady.resolve(m);
        return;
      case 'pong': {
        const key = String(m.nonce);
        this.pongs.get(key)?.();
        this.pongs.delete(key);
        return;
      }
      case 'error':
        return this.onError(m);
      case 'accepted': {
        for (const h of [m.inputs.init, m.inputs.mask, ...m.inputs.references, ...m.inputs.controls, ...(m.inputs.referenceMasks ?? [])]) if (h) this.knownHashes.add(h);
        this.jobs.get(m.jobId)?.handlers.onAccepted?.(m);
        return;
      }
      case 'queued': this.jobs.get(m.jobId)?.handlers.onQueued?.(m); return;
      case 'started': this.jobs.get(m.jobId)?.handlers.onStarted?.(m); return;
      case 'progress': this.jobs.get(m.jobId)?.handlers.onProgress?.(m); return;
      case 'cancelled': return this.finish(m.jobId, new BridgeError('cancelled', cancelText(m), undefined, m.jobId));
      case 'result': {
        const j = this.jobs.get(m.jobId);
        if (!j) return;
        j.result = m;
        this.maybeComplete(m.jobId, j);
        return;
      }
    }
  }

  private onError(m: ErrorMessage): void {
    if (!m.jobId) {
      if (!this.welcome) this.settleReady.reject(new BridgeError(m.code, m.message, m.field));
      else this.onUnhandledError?.(m);
      return;
    }
    const j = this.jobs.get(m.jobId);
    if (!j) return void this.onUnhandledError?.(m);
    if (m.code === 'blob-missing' && j.retry) {
      // The daemon evicted a blob we sent by hash: forget those hashes and send the images themselves.
      this.knownHashes.clear();
      j.retry();
      return;
    }
    this.finish(m.jobId, new BridgeError(m.code, m.message, m.field, m.jobId));
  }

  private onFrame(f: Frame): void {
    const j = this.jobs.get(f.header.jobId);
    if (!j) return;
    const { role, index, width, height } = f.header;
    if (role === 'preview') {
      j.handlers.onPreview?.({ width, height, data: f.payload, step: index });
    } else if (role === 'result' || role === 'control-result') {
      (role === 'result' ? j.images : j.controlImages).set(index, f.payload);
      this.maybeComplete(f.header.jobId, j);
    }
  }

  private maybeComplete(jobId: string, j: PendingJob): void {
    const r = j.result;
    if (!r) return;
    if (!r.images.every((d) => j.images.has(d.index)) || !r.controlImages.every((d) => j.controlImages.has(d.index))) return;
    this.jobs.delete(jobId);
    j.resolve({
      result: r,
      images: r.images.map((d) => ({ descriptor: d, data: j.images.get(d.index)! })),
      controlImages: r.controlImages.map((d) => ({ descriptor: d, data: j.controlImages.get(d.index)! })),
    });
  }

  private finish(jobId: string, err: BridgeError): void {
    const j = this.jobs.get(jobId);
    if (!j) return;
    this.jobs.delete(jobId);
    j.reject(err);
  }

  private onClose(code: number, reason: string): void {
    this.closed = new BridgeError('closed', `connection closed (${code}${reason ? `: ${reason}` : ''})`);
    this.settleReady.reject(this.closed);
    for (const [id, j] of this.jobs) {
      this.jobs.delete(id);
      j.reject(this.closed);
    }
  }
}

function cancelText(m: CancelledMessage): string {
  return m.reason === 'client' ? 'cancelled' : m.reason === 'shutdown' ? 'cancelled: the daemon is shutting down' : 'cancelled: the client disconnected';
}

interface PlannedFrame {
  role: FrameRole;
  index: number;
  image: ImagePayload;
}

/** Fills in each image's `source` (frame or hash) and lists the frames to send after the message. */
export function planJob(job: JobMessage, inputs: JobInputs, known: ReadonlySet<string>): { message: JobMessage; frames: PlannedFrame[] } {
  const frames: PlannedFrame[] = [];
  const pick = <T extends object>(spec: T | undefined, img: ImagePayload | undefined, role: FrameRole, index: number): T | undefined => {
    if (!img) return spec;
    if (img.hash && known.has(img.hash)) return { ...(spec ?? {}), source: 'hash', hash: img.hash } as T;
    frames.push({ role, index, image: img });
    const { hash: _drop, ...rest } = (spec ?? {}) as T & { hash?: string };
    return { ...rest, source: 'frame' } as T;
  };
  const message: JobMessage = { ...job };
  message.init = pick(job.init, inputs.init, 'init', 0);
  message.mask = pick(job.mask, inputs.mask, 'mask', 0);
  if (job.references) {
    message.references = job.references.map((r, i) => {
      const ref = pick(r, inputs.references?.[i], 'reference', i)!;
      const mask = pick(r.mask, inputs.referenceMasks?.[i], 'reference-mask', i);
      return mask ? { ...ref, mask } : ref;
    });
  }
  if (job.controls) message.controls = job.controls.map((c, i) => pick(c, inputs.controls?.[i], 'control', i)!);
  if (message.init === undefined) delete message.init;
  if (message.mask === undefined) delete message.mask;
  return { message, frames };
}
