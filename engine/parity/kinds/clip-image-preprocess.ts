/** Parity for `clip-image-preprocess`: HWC uint8 RGB → pixel_values through the pure-TS CLIP preprocessing. */
import { preprocessClipImage } from '../../preprocess/clip-image.ts';
import { compareOutputs, type CheckResult } from '../compare.ts';
import type { FixtureCase } from '../fixture.ts';

export async function runClipImagePreprocessCase(c: FixtureCase): Promise<CheckResult[]> {
  if (!c.io) throw new Error(`${c.name}: case has no io file`);
  const info = c.io.info('in.image_uint8');
  const [height, width, channels] = info.shape;
  if (channels !== 3 && channels !== 4) throw new Error(`${c.name}: in.image_uint8 has ${channels} channels`);
  const crop = c.config.crop_size as { height?: number } | undefined;
  const size = c.config.size as { shortest_edge?: number } | undefined;
  const mean = c.config.image_mean as [number, number, number] | undefined;
  const std = c.config.image_std as [number, number, number] | undefined;
  const px = preprocessClipImage({ data: c.io.readUint8('in.image_uint8'), width, height, channels }, { size: size?.shortest_edge, crop: crop?.height, mean, std });
  return compareOutputs(c, { pixel_values: px });
}
