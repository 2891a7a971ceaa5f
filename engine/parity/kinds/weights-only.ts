/**
 * `weights-only` cases (weights homes such as `sd15-unet`, `ip-masked-adapters`) hold files other
 * cases reference and no io. What can be checked is that every file is there and is a readable
 * safetensors file with tensors (the cases using them check the numbers).
 */
import { SafetensorsFile } from '../../weights/safetensors.ts';
import type { CheckResult } from '../compare.ts';
import type { FixtureCase } from '../fixture.ts';

export async function runWeightsOnlyCase(c: FixtureCase): Promise<CheckResult[]> {
  const roles = Object.entries(c.weights);
  if (roles.length === 0) throw new Error(`${c.name}: a weights-only case without weights`);
  return roles.map(([role, path]) => {
    try {
      const n = SafetensorsFile.open(path).tensors.size;
      return { name: `${role}: ${n} tensors`, maxAbsError: 0, pass: n > 0, detail: n > 0 ? undefined : 'no tensors' };
    } catch (e) {
      return { name: role, maxAbsError: Infinity, pass: false, detail: (e as Error).message };
    }
  });
}
