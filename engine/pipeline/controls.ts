/** A control layer as the ControlNet wants it: preprocessed (pose / canny / depth) or as given. */
import type { ControlInput, LocatedModel, RgbaImage, Role } from '../api.ts';
import { preprocessControl, type OpenPoseJson } from '../preprocess/control.ts';

/** A path for `role`, or undefined so the preprocessor names what is missing and how to fetch it. */
function optionalPath(find: (role: Role) => LocatedModel, role: Role): string | undefined {
  try {
    return find(role).path;
  } catch {
    return undefined;
  }
}

export async function preprocessControlImage(
  c: ControlInput,
  find: (role: Role) => LocatedModel,
  opts: { width: number; height: number; provider: 'cpu' | 'cuda'; signal?: AbortSignal; field: string },
): Promise<{ image: RgbaImage; keypoints?: OpenPoseJson }> {
  const models = c.preprocess === 'pose-detect'
    ? { poseDetector: optionalPath(find, 'dwpose:detector'), poseEstimator: optionalPath(find, 'dwpose:pose') }
    : c.preprocess === 'depth' ? { depth: optionalPath(find, 'depth') } : {};
  return preprocessControl(c.preprocess, c.image, {
    width: opts.width, height: opts.height, models, provider: opts.provider, signal: opts.signal, field: opts.field,
    ...(c.low !== undefined ? { low: c.low } : {}), ...(c.high !== undefined ? { high: c.high } : {}),
  });
}
