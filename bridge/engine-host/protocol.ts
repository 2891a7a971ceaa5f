/**
 * The messages between the daemon and its engine child process (child_process IPC with
 * `serialization: 'advanced'`, so typed arrays and nested objects travel as they are: images are not
 * re-encoded). Calls carry a numeric id chosen by the parent; the child answers each once.
 *
 *   parent → child   init (once, after booted) · generate · cancel · list-models · dispose
 *   child → parent   booted · ready | start-failed · progress* · result | failed · models | failed · disposed
 */
import { CancelledError, EngineError, type Engine, type EngineErrorCode, type GenerateRequest, type GenerateResult, type ModelSummary, type ProgressEvent } from '../../engine/api.ts';
import type { EngineFactoryOptions } from '../engine-loader.ts';

/**
 * The Engine fields the child reports once when ready and the parent's proxy serves from then on.
 * A new readonly field on Engine that the daemon reads goes here (and into DESCRIBED_FIELDS).
 */
export type EngineDescription = Pick<Engine, 'provider' | 'runtime'>;
export const DESCRIBED_FIELDS = ['provider', 'runtime'] as const satisfies ReadonlyArray<keyof EngineDescription>;

export type ToChild =
  /** `spec` as for loadEngineFactory (undefined = the real engine); `options` go to its factory untouched. */
  | { type: 'init'; spec?: string; options: EngineFactoryOptions }
  | { type: 'generate'; id: number; request: GenerateRequest; wantPreview: boolean }
  | { type: 'cancel'; id: number }
  | { type: 'list-models'; id: number }
  | { type: 'dispose' };

export type FromChild =
  /** The child's message handler is attached: init may be sent (IPC messages sent earlier could be lost). */
  | { type: 'booted'; pid: number }
  | { type: 'ready'; engine: EngineDescription; startMs: number }
  | { type: 'start-failed'; error: WireError }
  | { type: 'progress'; id: number; event: ProgressEvent }
  | { type: 'result'; id: number; result: GenerateResult }
  | { type: 'models'; id: number; models: ModelSummary[] }
  | { type: 'failed'; id: number; error: WireError }
  | { type: 'disposed' };

/** Errors cross the boundary as data; EngineError and CancelledError come back as themselves. */
export type WireError =
  | { kind: 'engine'; code: EngineErrorCode; message: string; field?: string }
  | { kind: 'cancelled' }
  | { kind: 'other'; name: string; message: string; stack?: string };

export function toWireError(e: unknown): WireError {
  if (e instanceof CancelledError) return { kind: 'cancelled' };
  if (e instanceof EngineError) return { kind: 'engine', code: e.code, message: e.message, ...(e.field !== undefined ? { field: e.field } : {}) };
  if (e instanceof Error) return { kind: 'other', name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}) };
  return { kind: 'other', name: 'Error', message: String(e) };
}

export function fromWireError(w: WireError): Error {
  if (w.kind === 'cancelled') return new CancelledError();
  if (w.kind === 'engine') return new EngineError(w.code, w.message, w.field);
  const e = new Error(w.message);
  e.name = w.name;
  // The child's stack says where it failed; the parent's would only say "IPC".
  if (w.stack) e.stack = w.stack;
  return e;
}

const TO_CHILD: ReadonlySet<string> = new Set<ToChild['type']>(['init', 'generate', 'cancel', 'list-models', 'dispose']);
const FROM_CHILD: ReadonlySet<string> = new Set<FromChild['type']>(['booted', 'ready', 'start-failed', 'progress', 'result', 'models', 'failed', 'disposed']);

/** Both ends are this code base, so a check of the tag is enough to keep stray messages out. */
export function isToChild(v: unknown): v is ToChild {
  return typeof v === 'object' && v !== null && TO_CHILD.has((v as { type?: unknown }).type as string);
}

export function isFromChild(v: unknown): v is FromChild {
  return typeof v === 'object' && v !== null && FROM_CHILD.has((v as { type?: unknown }).type as string);
}
