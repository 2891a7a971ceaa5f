/** A control layer as the ControlNet wants it: preprocessed (pose / canny / depth) or as given. */
import { EngineError, type ControlInput, type LocatedModel, type RgbaImage } from '../api.ts';

export async function preprocessControlImage(c: ControlInput, _find: (role: string) => LocatedModel): Promise<RgbaImage> {
  if (c.preprocess === 'none') return c.image;
  throw new EngineError('unsupported', `control preprocessing "${c.preprocess}" is not wired into the engine yet`, 'controls.preprocess');
}
