/**
 * What the team front and its workers agree on through Redis: the queue name, the key names, and the
 * shapes of a job's data, its progress updates and its return value. Images are never in here: inputs
 * and results travel as content hashes that name blobs in the front's blob store (bridge/team/blob-store.ts).
 */
import { createHash } from 'node:crypto';
import type { CancelReason, ErrorMessage, FrameHeader, InputHashes, ResultMessage } from '../../shared/protocol/index.ts';
import type { NormalizedJob } from '../../shared/protocol/validate.ts';

/** The BullMQ queue every front and worker of one studio uses (`--prefix` separates studios on one Redis). */
export const QUEUE_NAME = 'ipa-jobs';
/** Default BullMQ key prefix; our own keys live under `<prefix>:team:`. */
export const DEFAULT_PREFIX = 'ipa';

export function teamKeys(prefix: string) {
  const k = (s: string): string => `${prefix}:team:${s}`;
  return {
    /** hash: user name → JSON UserRecord (bridge/team/users.ts). */
    users: k('users'),
    /** hash: sha256(token) → user name. */
    tokens: k('tokens'),
    /** hash: fairness state (bridge/team/fairness.ts). */
    fair: k('fair'),
    /** set per user: BullMQ ids of that user's live jobs (the per-user limit). */
    live: (user: string) => k(`live:${user}`),
    /** string: where workers reach the front's blob endpoint, as JSON FrontInfo. */
    front: k('front'),
    /** string: the secret workers present to the blob endpoint. */
    workerSecret: k('worker-secret'),
    /** hash: worker id → JSON WorkerInfo, refreshed every few seconds. */
    workers: k('workers'),
    /** pub/sub channel: BullMQ ids of running jobs to cancel. */
    cancelChannel: k('cancel'),
    /** string with a TTL: a cancel asked for while the job was moving to a worker. */
    cancelled: (bullId: string) => k(`cancelled:${bullId}`),
  };
}
export type TeamKeys = ReturnType<typeof teamKeys>;

/**
 * The BullMQ job id of a user's job: client-chosen ids are only unique per user, and BullMQ refuses ":"
 * (which job ids may contain), so the id is a hash of both. Same user + id → same BullMQ job (dedupe);
 * another user's id can never name it.
 */
export function bullJobId(user: string, jobId: string): string {
  return `j${createHash('sha256').update(`${user}\0${jobId}`).digest('hex').slice(0, 40)}`;
}

/** A job as queued: the validated job message, who owns it, and its inputs by hash. */
export interface TeamJobData {
  user: string;
  spec: NormalizedJob;
  /** Hashes of the decoded inputs in the blob store (`inputs/`), per slot; null = keypoints. */
  hashes: InputHashes;
  submittedAt: number;
}

/** Progress a worker reports (BullMQ job.updateProgress); the front turns it into protocol messages. */
export type TeamProgress =
  | { kind: 'started'; width: number; height: number; steps: number }
  | {
    kind: 'progress'; step: number; total: number; elapsedMs: number; etaMs: number; preview?: { width: number; height: number };
    /** The generation size again: BullMQ keeps only the latest progress, and a resume replays `started` from it. */
    width: number; height: number; steps: number;
  };

/** A result frame as stored: the header the client gets; the payload is the blob named by `header.hash`. */
export interface StoredFrame {
  header: FrameHeader;
}

/**
 * A job's return value. Engine refusals and cancellations are outcomes, not BullMQ failures, so they
 * are never retried; a BullMQ failure means the worker could not finish (front unreachable, crash).
 */
export type TeamOutcome =
  | { kind: 'result'; message: ResultMessage; frames: StoredFrame[] }
  | { kind: 'error'; message: ErrorMessage }
  | { kind: 'cancelled'; reason: CancelReason };

/** Where workers find the front (written by the front at start). */
export interface FrontInfo {
  /** http(s)://host:port of the blob endpoint as workers should reach it. */
  url: string;
  /** SHA-256 fingerprint of the front's certificate when it is self-signed or pinned; workers check it. */
  fingerprint?: string;
}

/** What a worker tells the front about itself (for the handshake's model list). */
export interface WorkerInfo {
  id: string;
  host: string;
  provider: string;
  device?: string;
  fp16?: boolean;
  models: Array<{ name: string; kind: string; bytes?: number }>;
  /** ms since epoch of the last refresh. */
  at: number;
  /** The BullMQ id it is running, if any. */
  running?: string;
}

/** Workers seen within this long count as present. */
export const WORKER_FRESH_MS = 15_000;
