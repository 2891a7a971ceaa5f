/**
 * The A1111 "AutoV2" short hash (the first 10 hex digits of the file's sha256) next to the full
 * sha256 for checkpoints and LoRAs in `--metadata` JSON: what A1111's "Model hash" and civitai's
 * search show, so users recognise their models.
 */
import type { ResultMetadata } from '../../shared/protocol/messages.ts';

export function autoV2(sha256: string): string | undefined {
  return /^[0-9a-f]{64}$/.test(sha256) ? sha256.slice(0, 10) : undefined;
}

type ModelHashes = Record<string, { name: string; sha256: string; autoV2?: string }>;

export function withShortHashes(m: ResultMetadata): Omit<ResultMetadata, 'models'> & { models: ModelHashes } {
  const models: ModelHashes = {};
  for (const [role, v] of Object.entries(m.models)) {
    const short = role === 'checkpoint' || role.startsWith('lora') ? autoV2(v.sha256) : undefined;
    models[role] = short ? { ...v, autoV2: short } : { ...v };
  }
  return { ...m, models };
}
