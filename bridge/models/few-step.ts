/**
 * Few-step models by name. A distilled checkpoint or LoRA has the tensors of any other one: only its
 * file name, or the hub repo it came from (`latent-consistency/lcm-lora-sdv1-5`, whose file is just
 * `pytorch_lora_weights.safetensors`), says it wants 4 LCM steps instead of 25 with CFG. The names
 * are the ones the publishers use and ComfyUI/A1111 users keep:
 * - LCM: `lcm-lora-sdv1-5`, `lcm-lora-sdxl`, `lcm_lora_*`, `LCM_Dreamshaper_v7`, `lcm-sdxl`;
 * - TCD: `TCD-SD15-LoRA`, `TCD-SDXL-LoRA` (h1t);
 * - Hyper-SD: `Hyper-SD15-{1step,2steps,4steps,8steps}-lora`, `…-{8,12}steps-CFG-lora`,
 *   `Hyper-SDXL-*`, `Hyper-SDXL-1step-Unet` (ByteDance/Hyper-SD);
 * - SDXL-Lightning: `sdxl_lightning_{2,4,8}step[_lora|_unet]` (ByteDance/SDXL-Lightning); the
 *   1-step `_x0` UNet predicts x0 and is left out (no sampler here runs sample prediction);
 * - SDXL-Turbo: `sd_xl_turbo_1.0[_fp16]`, `sdxl-turbo`.
 * Only checkpoints (full or UNet-only) and LoRAs are classified; everything else returns undefined.
 */
import type { FewStepInfo } from '../../shared/protocol/messages.ts';

/** The step count in a name: "4step", "8steps", "2-step", "12_steps". */
function stepsIn(name: string): number | undefined {
  const m = /(?:^|[^0-9])(\d{1,2})[-_ ]?steps?(?![a-z])/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** `name` is the registry's entry name (a path relative to the models folder, or repo + path in the hub cache); `role` its role. */
export function fewStepOf(name: string, role: string): FewStepInfo | undefined {
  const kind = role.split(':')[0];
  if (kind !== 'lora' && kind !== 'checkpoint' && kind !== 'unet' && kind !== 'diffusers') return undefined;
  const n = name.toLowerCase();
  const steps = stepsIn(n);
  const withSteps = (info: FewStepInfo): FewStepInfo => (steps !== undefined && info.steps === undefined ? { ...info, steps } : info);
  if (/hyper[-_ ]?sd/.test(n)) return withSteps({ family: 'hyper-sd', ...(/(^|[^a-z])cfg([^a-z]|$)/.test(n) ? { cfg: true } : {}) });
  if (/lightning/.test(n)) {
    if (/x0/.test(n) || steps === 1) return undefined;
    return withSteps({ family: 'lightning' });
  }
  if (/(^|[^a-z])tcd([^a-z]|$)/.test(n)) return { family: 'tcd' };
  if (/(^|[^a-z])lcm([^a-z]|$)|latent-consistency/.test(n)) return { family: 'lcm' };
  if (/turbo/.test(n)) return { family: 'turbo' };
  return undefined;
}
