/**
 * What a result file carries besides its pixels, built in one place from the result metadata the
 * client receives (the daemon's PNG frames and `generate`'s files alike): A1111's `parameters` line,
 * which other tools read, and our full settings as JSON, which regenerate the image.
 */
import type { ResultMetadata } from '../shared/protocol/messages.ts';
import { a1111Parameters } from '../engine/pipeline/metadata.ts';

export interface ResultText {
  readonly parameters: string;
  /** The result metadata of image `index` (its own seed), timings left out so equal jobs give equal files. */
  readonly 'ipa-bridge': string;
}

export function resultText(m: ResultMetadata, index: number): ResultText {
  const { timings: _timings, ...settings } = m;
  return {
    parameters: a1111Parameters(m, index),
    'ipa-bridge': JSON.stringify({ ...settings, params: { ...m.params, seed: m.params.seed + index } }),
  };
}
