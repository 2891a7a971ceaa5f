/** A parity case directory (format: ../shared/fixtures/README.md). */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { SafetensorsFile } from '../weights/safetensors.ts';

export type WeightsFormat = 'diffusers' | 'ldm' | 'ldm-sdxl' | 'h94' | 'hf-clip' | 'taesd';

export interface Tolerance {
  readonly atol: number;
  readonly rtol: number;
  /** Largest allowed difference of uint8 image outputs (the README allows +-1; fp16 flavours more). */
  readonly uint8?: number;
}

export interface FixtureCase {
  readonly name: string;
  readonly dir: string;
  readonly kind: string;
  readonly description: string;
  readonly config: Record<string, unknown>;
  /** role -> absolute path */
  readonly weights: Record<string, string>;
  readonly weightsFormat: Record<string, WeightsFormat>;
  readonly io: SafetensorsFile | null;
  readonly params: Record<string, unknown>;
  readonly tolerance: Tolerance;
}

interface CaseJson {
  kind: string;
  description?: string;
  config?: Record<string, unknown>;
  weights?: Record<string, string>;
  weights_format?: Record<string, WeightsFormat>;
  io?: string | null;
  params?: Record<string, unknown>;
  tolerance?: Partial<Tolerance>;
}

export function loadCase(dir: string): FixtureCase {
  const path = join(dir, 'case.json');
  if (!existsSync(path)) throw new Error(`${dir}: no case.json`);
  // Python's json writes -Infinity / Infinity / NaN bare; -1e999 parses as -Infinity.
  const text = readFileSync(path, 'utf8').replace(/:\s*(-?)Infinity\b/g, ': $11e999').replace(/:\s*NaN\b/g, ': null');
  const json = JSON.parse(text) as CaseJson;
  if (typeof json.kind !== 'string') throw new Error(`${path}: "kind" missing`);
  const weights: Record<string, string> = {};
  for (const [role, rel] of Object.entries(json.weights ?? {})) weights[role] = resolve(dir, rel);
  return {
    name: basename(dir),
    dir,
    kind: json.kind,
    description: json.description ?? '',
    config: json.config ?? {},
    weights,
    weightsFormat: json.weights_format ?? {},
    io: json.io ? SafetensorsFile.open(join(dir, json.io)) : null,
    params: json.params ?? {},
    tolerance: { atol: json.tolerance?.atol ?? 1e-4, rtol: json.tolerance?.rtol ?? 1e-3 },
  };
}

/** Case directories under root: index.json order when present, else every folder with a case.json. */
export function listCases(root: string): string[] {
  const index = join(root, 'index.json');
  if (existsSync(index)) {
    const entries = JSON.parse(readFileSync(index, 'utf8')) as Array<{ case: string }>;
    return entries.map((e) => join(root, e.case));
  }
  if (existsSync(join(root, 'case.json'))) return [root];
  throw new Error(`${root}: neither index.json nor case.json found`);
}
