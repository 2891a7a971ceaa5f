/**
 * Roles: what a job needs a model for, as `kind` or `kind:variant` strings —
 * 'checkpoint', 'ipadapter:plus', 'controlnet:pose', 'clip_vision:vit-h', 'lora:faceid',
 * 'insightface:detector', 'dwpose:pose', 'depth', 'tokenizer'. A detected file has exactly one role;
 * a request without a variant ('controlnet') accepts any variant.
 *
 * Models bound to one family's UNet carry SDXL in the variant: 'checkpoint:sdxl',
 * 'checkpoint:sdxl-inpaint', 'ipadapter:sdxl-base', 'controlnet:sdxl-pose', 'lora:sdxl-faceid' (the
 * SD1.5 roles keep their names), so an SDXL job never gets an SD1.5 adapter and the reverse. Image
 * encoders and tokenizers serve both families.
 */
import { controlTypeFromName, type Detection } from '../../engine/weights/detect.ts';
import { isTaesdXlName } from '../../engine/weights/taesd.ts';

export type Role = string;

/** The role a detected model fills. `name` is the file or folder name (ControlNet type tie-break). */
export function roleOf(d: Detection, name: string): Role {
  const xl = d.base === 'sdxl' ? 'sdxl-' : '';
  switch (d.kind) {
    case 'checkpoint':
    case 'diffusers':
      if (xl) return d.details.inChannels === 9 ? 'checkpoint:sdxl-inpaint' : 'checkpoint:sdxl';
      return d.details.inChannels === 9 ? 'checkpoint:inpaint' : 'checkpoint';
    case 'controlnet':
      // A folder or a hub file named like the rev hash says nothing; the name passed (repo + path) may.
      return `controlnet:${xl}${d.variant && d.variant !== 'other' ? d.variant : controlTypeFromName(name.toLowerCase())}`;
    case 'ipadapter':
      return d.variant ? `ipadapter:${xl}${d.variant}` : 'ipadapter';
    case 'lora':
      return d.variant ? `lora:${xl}${d.variant}` : 'lora';
    case 'vae':
      // A full VAE has no variant; TAESD files are vae:taesd, vae:taesdxl (and -encoder). The tensors
      // cannot tell the two apart; a hub snapshot's name (madebyollin/taesdxl) can where its folder's cannot.
      if (!d.variant) return 'vae';
      return `vae:${d.variant.startsWith('taesd') && !d.variant.startsWith('taesdxl') && isTaesdXlName(name) ? d.variant.replace('taesd', 'taesdxl') : d.variant}`;
    case 'depth':
    case 'tokenizer':
    case 'unet':
    case 'text_encoder':
      return d.kind;
    default:
      return d.variant ? `${d.kind}:${d.variant}` : d.kind;
  }
}

export function roleMatches(wanted: Role, actual: Role): boolean {
  if (wanted === actual) return true;
  return !wanted.includes(':') && actual.startsWith(`${wanted}:`);
}

const LABELS: Record<string, string> = {
  checkpoint: 'Stable Diffusion 1.5 checkpoint',
  'checkpoint:inpaint': 'Stable Diffusion 1.5 inpainting checkpoint (9-channel UNet)',
  'ipadapter:base': 'IP-Adapter (base, ip-adapter_sd15)',
  'ipadapter:plus': 'IP-Adapter Plus (ip-adapter-plus_sd15)',
  'ipadapter:faceid': 'IP-Adapter FaceID (ip-adapter-faceid_sd15)',
  'ipadapter:faceid-plus': 'IP-Adapter FaceID Plus (ip-adapter-faceid-plus_sd15)',
  'ipadapter:faceid-plusv2': 'IP-Adapter FaceID Plus v2 (ip-adapter-faceid-plusv2_sd15)',
  'ipadapter:portrait': 'IP-Adapter FaceID Portrait (ip-adapter-faceid-portrait_sd15)',
  'controlnet:pose': 'OpenPose ControlNet for SD1.5',
  'controlnet:canny': 'Canny ControlNet for SD1.5',
  'controlnet:depth': 'Depth ControlNet for SD1.5',
  'checkpoint:sdxl': 'SDXL checkpoint',
  'checkpoint:sdxl-inpaint': 'SDXL inpainting checkpoint (9-channel UNet)',
  'ipadapter:sdxl-base': 'IP-Adapter SDXL (ip-adapter_sdxl: ViT-bigG, or ip-adapter_sdxl_vit-h)',
  'ipadapter:sdxl-plus': 'IP-Adapter Plus SDXL (ip-adapter-plus_sdxl_vit-h, plus-face)',
  'ipadapter:sdxl-faceid': 'IP-Adapter FaceID SDXL (ip-adapter-faceid_sdxl)',
  'ipadapter:sdxl-faceid-plusv2': 'IP-Adapter FaceID Plus v2 SDXL (ip-adapter-faceid-plusv2_sdxl)',
  'ipadapter:sdxl-portrait': 'IP-Adapter FaceID Portrait SDXL (ip-adapter-faceid-portrait_sdxl)',
  'controlnet:sdxl-pose': 'OpenPose ControlNet for SDXL',
  'controlnet:sdxl-canny': 'Canny ControlNet for SDXL',
  'controlnet:sdxl-depth': 'Depth ControlNet for SDXL',
  'lora:sdxl-faceid': 'FaceID LoRA for SDXL (ip-adapter-faceid_sdxl_lora)',
  'lora:sdxl-faceid-plusv2': 'FaceID Plus v2 LoRA for SDXL (ip-adapter-faceid-plusv2_sdxl_lora)',
  'clip_vision:vit-h': 'CLIP ViT-H/14 image encoder',
  'clip_vision:vit-bigG': 'CLIP ViT-bigG/14 image encoder',
  'lora:faceid': 'FaceID LoRA (ip-adapter-faceid_sd15_lora)',
  'lora:faceid-plus': 'FaceID Plus LoRA (ip-adapter-faceid-plus_sd15_lora)',
  'lora:faceid-plusv2': 'FaceID Plus v2 LoRA (ip-adapter-faceid-plusv2_sd15_lora)',
  'insightface:detector': 'insightface face detector (buffalo_l det_10g.onnx)',
  'insightface:recognizer': 'insightface face recognizer (buffalo_l w600k_r50.onnx)',
  'dwpose:detector': 'DWPose person detector (yolox_l.onnx)',
  'dwpose:pose': 'DWPose pose estimator (dw-ll_ucoco_384.onnx)',
  depth: 'Depth-Anything depth estimator (ONNX)',
  tokenizer: 'CLIP tokenizer (vocab.json + merges.txt)',
  'vae:taesd': 'TAESD tiny decoder for SD1.5 previews (madebyollin/taesd)',
  'vae:taesdxl': 'TAESDXL tiny decoder for SDXL previews (madebyollin/taesdxl)',
  'vae:taesd-encoder': 'TAESD tiny encoder (taesd_encoder)',
  'vae:taesdxl-encoder': 'TAESDXL tiny encoder (taesdxl_encoder)',
};

export function describeRole(role: Role): string {
  return LABELS[role] ?? role;
}

/** Roles are lowercase except the bigG variant; accept any case from users. */
export function normalizeRole(role: string): Role {
  return role.trim().toLowerCase().replace(/^clip-vision/, 'clip_vision').replace(/vit-bigg$/, 'vit-bigG');
}
