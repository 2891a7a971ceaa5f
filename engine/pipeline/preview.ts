/**
 * A cheap preview of the latents without the VAE: SD1.5's four latent channels projected to RGB
 * with a fixed linear map (the published "latent RGB factors" used by ComfyUI and A1111's
 * approximate previews). Costs microseconds at 64x64.
 */
import type { RgbaImage } from '../api.ts';

const FACTORS: ReadonlyArray<readonly [number, number, number]> = [
  [0.3512, 0.2297, 0.3227],
  [0.325, 0.4974, 0.235],
  [-0.2829, 0.1762, 0.2721],
  [-0.212, -0.2616, -0.7177],
];

/** latents [4, h, w] (one image, UNet space) -> RGBA at latent resolution. */
export function latentPreview(latents: Float32Array, width: number, height: number): RgbaImage {
  const hw = width * height;
  const data = new Uint8Array(hw * 4);
  for (let i = 0; i < hw; i++) {
    let r = 0;
    let g = 0;
    let b = 0;
    for (let c = 0; c < 4; c++) {
      const v = latents[c * hw + i];
      r += v * FACTORS[c][0];
      g += v * FACTORS[c][1];
      b += v * FACTORS[c][2];
    }
    data[i * 4] = Math.max(0, Math.min(255, Math.round((r + 1) * 127.5)));
    data[i * 4 + 1] = Math.max(0, Math.min(255, Math.round((g + 1) * 127.5)));
    data[i * 4 + 2] = Math.max(0, Math.min(255, Math.round((b + 1) * 127.5)));
    data[i * 4 + 3] = 255;
  }
  return { width, height, data };
}
