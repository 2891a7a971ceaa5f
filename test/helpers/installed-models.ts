/**
 * A daemon's model list with both families installed: SD1.5 and SDXL checkpoints (an inpainting one for
 * SDXL), IP-Adapters and ControlNets for each. SDXL has only the base adapter and the pose control, so
 * tests can see an offer narrowed to what the family really has.
 */
import type { ModelInfo } from '../../shared/protocol/messages.ts';

export const MIXED_INSTALL: readonly ModelInfo[] = [
  { name: 'dreamshaper_8.safetensors', kind: 'checkpoint', base: 'sd15' },
  { name: 'sd_xl_base_1.0.safetensors', kind: 'checkpoint:sdxl', base: 'sdxl' },
  { name: 'sd_xl_inpaint.safetensors', kind: 'checkpoint:sdxl-inpaint', base: 'sdxl' },
  { name: 'ip-adapter_sd15.safetensors', kind: 'ipadapter:base', base: 'sd15' },
  { name: 'ip-adapter-plus_sd15.safetensors', kind: 'ipadapter:plus', base: 'sd15' },
  { name: 'ip-adapter_sdxl_vit-h.safetensors', kind: 'ipadapter:sdxl-base', base: 'sdxl' },
  { name: 'control_v11p_sd15_openpose.pth', kind: 'controlnet:pose', base: 'sd15' },
  { name: 'control_v11p_sd15_canny.pth', kind: 'controlnet:canny', base: 'sd15' },
  { name: 'controlnet-openpose-sdxl-1.0', kind: 'controlnet:sdxl-pose', base: 'sdxl' },
];
