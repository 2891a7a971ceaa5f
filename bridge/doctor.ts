/** `ipa-bridge doctor`: what this machine can run on, and what the model folders lack. */
import type { ProviderChoice } from '../engine/runtime/providers.ts';

export interface DoctorOptions {
  readonly modelsDir?: string;
  readonly provider: ProviderChoice;
  readonly json: boolean;
}

/** Prints the report to `out`; returns the exit code (0 = a provider works and models are complete, 1 otherwise). */
export async function runDoctor(_opts: DoctorOptions, _out: NodeJS.WritableStream = process.stdout): Promise<number> {
  throw new Error('doctor: being written');
}
