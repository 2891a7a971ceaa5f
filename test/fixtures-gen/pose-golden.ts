/**
 * Regenerates test/golden/pose-skeleton.png from test/preprocess/pose-fixture.ts:
 *   node --import tsx test/fixtures-gen/pose-golden.ts
 * Run only after an intended change to the renderer, and look at the image before committing it.
 */
import sharp from 'sharp';
import { renderKeypoints } from '../../engine/preprocess/control.ts';
import { FIXTURE_POSE, GOLDEN_HEIGHT, GOLDEN_PATH, GOLDEN_WIDTH } from '../preprocess/pose-fixture.ts';

const { image } = renderKeypoints(FIXTURE_POSE, GOLDEN_WIDTH, GOLDEN_HEIGHT);
await sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: 4 } })
  .removeAlpha()
  .png({ compressionLevel: 9 })
  .toFile(GOLDEN_PATH);
console.log(`wrote ${GOLDEN_PATH}`);
