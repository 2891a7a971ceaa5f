/** Tensor comparison with the fixtures' rule |got - exp| <= atol + rtol * |exp|. */
import type { FixtureCase, Tolerance } from './fixture.ts';

export interface CheckResult {
  readonly name: string;
  readonly maxAbsError: number;
  readonly pass: boolean;
  readonly detail?: string;
}

export interface GotTensor {
  readonly data: ArrayLike<number | bigint>;
  readonly shape?: readonly number[];
}

export function compareTensor(name: string, got: GotTensor, exp: ArrayLike<number | bigint>, expShape: readonly number[], tol: Tolerance): CheckResult {
  if (got.shape && got.shape.join(',') !== expShape.join(',')) {
    return { name, maxAbsError: Infinity, pass: false, detail: `shape [${got.shape}] != expected [${expShape}]` };
  }
  if (got.data.length !== exp.length) {
    return { name, maxAbsError: Infinity, pass: false, detail: `${got.data.length} elements != expected ${exp.length}` };
  }
  let maxAbs = 0;
  let worst = -1;
  let pass = true;
  for (let i = 0; i < exp.length; i++) {
    const e = Number(exp[i]);
    const g = Number(got.data[i]);
    const d = Math.abs(g - e);
    if (!(d <= tol.atol + tol.rtol * Math.abs(e))) {
      if (pass || d > maxAbs) worst = i;
      pass = false;
    }
    if (d > maxAbs || Number.isNaN(d)) maxAbs = Number.isNaN(d) ? Infinity : d;
  }
  const detail = pass ? undefined : `worst at [${worst}]: got ${Number(got.data[worst])}, expected ${Number(exp[worst])}`;
  return { name, maxAbsError: maxAbs, pass, detail };
}

/** Compares produced outputs against the case's `out.<name>` tensors; a missing output fails. */
export function compareOutputs(c: FixtureCase, got: Record<string, GotTensor>, only?: (name: string) => boolean, tol: Tolerance = c.tolerance): CheckResult[] {
  if (!c.io) throw new Error(`${c.name}: case has no io file`);
  const results: CheckResult[] = [];
  for (const key of c.io.keys()) {
    if (!key.startsWith('out.')) continue;
    const name = key.slice(4);
    if (only && !only(name)) continue;
    const info = c.io.info(key);
    const exp = info.dtype === 'I64' ? c.io.readInt64(key) : info.dtype === 'U8' ? c.io.readUint8(key) : c.io.readFloat32(key);
    const g = got[name];
    if (!g) {
      results.push({ name, maxAbsError: Infinity, pass: false, detail: 'not produced' });
      continue;
    }
    // uint8 images: the README allows +-1.
    const t = info.dtype === 'U8' ? { atol: Math.max(tol.uint8 ?? 1, tol.atol), rtol: 0 } : tol;
    results.push(compareTensor(name, g, exp, info.shape, t));
  }
  return results;
}

/** Reads `in.<name>` as float32 (or int64 where stored so). */
export function input(c: FixtureCase, name: string): { data: Float32Array; shape: number[] } {
  if (!c.io) throw new Error(`${c.name}: case has no io file`);
  const key = `in.${name}`;
  const info = c.io.info(key);
  return { data: c.io.readFloat32(key), shape: [...info.shape] };
}
