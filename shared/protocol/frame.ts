/**
 * Binary frames: a small fixed little-endian header, the job id, then the image payload (never base64).
 *
 *   off  size  field
 *   0    4     magic "IPAB"
 *   4    1     frame version (= PROTOCOL_VERSION)
 *   5    1     role    (FrameRole codes below)
 *   6    1     format  (FrameFormat codes below)
 *   7    1     flags   bit0 = RGBA is premultiplied, bit1 = hash field is set
 *   8    2     index   (u16: reference/control number, progress step for previews)
 *   10   2     header length in bytes = offset of the payload (u16, ≥ 56 + job id length)
 *   12   4     width   (u32; 0 allowed for png/jpeg = "read it from the image")
 *   16   4     height  (u32)
 *   20   32    sha256 of the payload (zeros unless flag bit1)
 *   52   1     job id length n (1–64)
 *   53   3     reserved, zero
 *   56   n     job id, ASCII
 *   hl   …     payload (to the end of the message)
 */
import { PROTOCOL_VERSION } from './constants.ts';
import { MAX_FRAME_SIDE, MAX_JOB_ID_LENGTH, JOB_ID_PATTERN } from './limits.ts';

export const FRAME_MAGIC = 0x42415049; // "IPAB" read as a little-endian u32
export const FRAME_FIXED_HEADER = 56;

/** `reference-mask`: where reference `index` acts (regional image prompt). */
export type FrameRole = 'init' | 'mask' | 'reference' | 'control' | 'reference-mask' | 'result' | 'preview' | 'control-result';
export type FrameFormat = 'raw-rgba8' | 'raw-gray8' | 'png' | 'jpeg';

const ROLE_CODES: Readonly<Record<FrameRole, number>> = {
  init: 1, mask: 2, reference: 3, control: 4, 'reference-mask': 5, result: 16, preview: 17, 'control-result': 18,
};
const FORMAT_CODES: Readonly<Record<FrameFormat, number>> = { 'raw-rgba8': 1, 'raw-gray8': 2, png: 3, jpeg: 4 };
const ROLE_BY_CODE = invert(ROLE_CODES);
const FORMAT_BY_CODE = invert(FORMAT_CODES);

export const FLAG_PREMULTIPLIED = 1;
const FLAG_HASH = 2;

/** Roles a client may send; the others only come from the daemon. */
export const CLIENT_ROLES: readonly FrameRole[] = ['init', 'mask', 'reference', 'control', 'reference-mask'];

export interface FrameHeader {
  role: FrameRole;
  format: FrameFormat;
  jobId: string;
  index: number;
  width: number;
  height: number;
  premultiplied: boolean;
  /** sha256 hex of the payload, when the sender computed it. */
  hash?: string;
}

export interface Frame {
  header: FrameHeader;
  /** A view into the message bytes, not a copy. */
  payload: Uint8Array;
}

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/** Bytes per pixel of the raw formats; null for encoded ones. */
export function rawChannels(format: FrameFormat): number | null {
  return format === 'raw-rgba8' ? 4 : format === 'raw-gray8' ? 1 : null;
}

export function encodeFrameHeader(h: FrameHeader): Uint8Array {
  checkHeaderFields(h);
  const idLen = h.jobId.length;
  const out = new Uint8Array(FRAME_FIXED_HEADER + idLen);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, FRAME_MAGIC, true);
  out[4] = PROTOCOL_VERSION;
  out[5] = ROLE_CODES[h.role];
  out[6] = FORMAT_CODES[h.format];
  out[7] = (h.premultiplied ? FLAG_PREMULTIPLIED : 0) | (h.hash ? FLAG_HASH : 0);
  dv.setUint16(8, h.index, true);
  dv.setUint16(10, out.length, true);
  dv.setUint32(12, h.width, true);
  dv.setUint32(16, h.height, true);
  if (h.hash) out.set(hexToBytes(h.hash), 20);
  out[52] = idLen;
  for (let i = 0; i < idLen; i++) out[FRAME_FIXED_HEADER + i] = h.jobId.charCodeAt(i);
  return out;
}

/** Header and payload in one buffer (one copy of the payload). Prefer sending the two parts when the API allows. */
export function encodeFrame(h: FrameHeader, payload: Uint8Array): Uint8Array {
  const head = encodeFrameHeader(h);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}

/** Parses a binary message; throws FrameError with a readable reason. The payload is a view, not a copy. */
export function decodeFrame(bytes: Uint8Array): Frame {
  const { header, headerLength } = readHeader(bytes, bytes.length);
  const payload = bytes.subarray(headerLength);
  checkPayload(header, payload.length);
  return { header, payload };
}

/**
 * Parses a message that arrived as several WebSocket fragments (`ws` with binaryType "fragments"), as
 * the daemon and BridgeClient send frames: the header in one fragment, the payload in the next. When the
 * header lies in the first fragment and the payload is one fragment, nothing is copied; any other split
 * is joined first.
 */
export function decodeFrameParts(parts: readonly Uint8Array[]): Frame {
  if (parts.length === 1) return decodeFrame(parts[0]);
  let total = 0;
  for (const p of parts) total += p.length;
  const first = parts[0];
  // The header's own length field (bytes 10–11) says whether the first fragment is exactly the header.
  if (parts.length === 2 && first.length >= FRAME_FIXED_HEADER && (first[10] | (first[11] << 8)) === first.length) {
    const { header } = readHeader(first, total);
    checkPayload(header, parts[1].length);
    return { header, payload: parts[1] };
  }
  const joined = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    joined.set(p, off);
    off += p.length;
  }
  return decodeFrame(joined);
}

/** The header at the start of `bytes`; `totalLength` is the whole message's length (`bytes` may be its first fragment, holding the whole header). */
function readHeader(bytes: Uint8Array, totalLength: number): { header: FrameHeader; headerLength: number } {
  if (bytes.length < FRAME_FIXED_HEADER) throw new FrameError(`binary frame too short for a header (${totalLength} < ${FRAME_FIXED_HEADER} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== FRAME_MAGIC) throw new FrameError('binary frame does not start with "IPAB"');
  if (bytes[4] !== PROTOCOL_VERSION) throw new FrameError(`binary frame version ${bytes[4]} (this side speaks ${PROTOCOL_VERSION})`);
  const role = ROLE_BY_CODE.get(bytes[5]);
  if (!role) throw new FrameError(`unknown frame role code ${bytes[5]}`);
  const format = FORMAT_BY_CODE.get(bytes[6]);
  if (!format) throw new FrameError(`unknown frame format code ${bytes[6]}`);
  const flags = bytes[7];
  if (flags & ~(FLAG_PREMULTIPLIED | FLAG_HASH)) throw new FrameError(`unknown frame flags 0x${flags.toString(16)}`);
  const index = dv.getUint16(8, true);
  const headerLength = dv.getUint16(10, true);
  const width = dv.getUint32(12, true);
  const height = dv.getUint32(16, true);
  const idLen = bytes[52];
  if (idLen < 1 || idLen > MAX_JOB_ID_LENGTH) throw new FrameError(`frame job id length ${idLen} not in 1–${MAX_JOB_ID_LENGTH}`);
  if (headerLength < FRAME_FIXED_HEADER + idLen) throw new FrameError(`frame header length ${headerLength} shorter than its fields (${FRAME_FIXED_HEADER + idLen})`);
  if (headerLength > totalLength) throw new FrameError(`frame header length ${headerLength} beyond the message (${totalLength} bytes)`);
  let jobId = '';
  for (let i = 0; i < idLen; i++) jobId += String.fromCharCode(bytes[FRAME_FIXED_HEADER + i]);
  if (!JOB_ID_PATTERN.test(jobId)) throw new FrameError('frame job id has characters outside [A-Za-z0-9._:-]');
  const header: FrameHeader = { role, format, jobId, index, width, height, premultiplied: (flags & FLAG_PREMULTIPLIED) !== 0 };
  if (flags & FLAG_HASH) header.hash = bytesToHex(bytes.subarray(20, 52));
  return { header, headerLength };
}

function checkHeaderFields(h: FrameHeader): void {
  if (!JOB_ID_PATTERN.test(h.jobId) || h.jobId.length > MAX_JOB_ID_LENGTH) throw new FrameError(`bad job id for a frame: ${JSON.stringify(h.jobId)}`);
  if (!(h.role in ROLE_CODES)) throw new FrameError(`unknown frame role ${h.role}`);
  if (!(h.format in FORMAT_CODES)) throw new FrameError(`unknown frame format ${h.format}`);
  if (!Number.isInteger(h.index) || h.index < 0 || h.index > 0xffff) throw new FrameError(`frame index ${h.index} not a u16`);
  for (const k of ['width', 'height'] as const) {
    if (!Number.isInteger(h[k]) || h[k] < 0 || h[k] > MAX_FRAME_SIDE) throw new FrameError(`frame ${k} ${h[k]} not in 0–${MAX_FRAME_SIDE}`);
  }
  if (h.hash !== undefined && !/^[0-9a-f]{64}$/.test(h.hash)) throw new FrameError('frame hash must be 64 lowercase hex digits');
}

/** Raw formats must carry exactly width*height*channels bytes; encoded ones at least a signature. */
function checkPayload(h: FrameHeader, length: number): void {
  if (h.width > MAX_FRAME_SIDE || h.height > MAX_FRAME_SIDE) throw new FrameError(`frame size ${h.width}x${h.height} over ${MAX_FRAME_SIDE} a side`);
  const ch = rawChannels(h.format);
  if (ch !== null) {
    if (h.width === 0 || h.height === 0) throw new FrameError(`raw frame needs a width and height (got ${h.width}x${h.height})`);
    const want = h.width * h.height * ch;
    if (length !== want) throw new FrameError(`raw frame payload is ${length} bytes, ${h.width}x${h.height} ${h.format} needs ${want}`);
  } else if (length < 8) {
    throw new FrameError(`${h.format} frame payload too short (${length} bytes)`);
  }
}

export function bytesToHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
  return s;
}

export function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

function invert<K extends string>(rec: Readonly<Record<K, number>>): Map<number, K> {
  const m = new Map<number, K>();
  for (const k of Object.keys(rec) as K[]) m.set(rec[k], k);
  return m;
}
