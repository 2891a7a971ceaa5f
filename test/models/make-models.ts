/** Tiny generated model files with real key layouts (zeros as data) for layout and detection tests. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { encodeSafetensors } from '../../engine/weights/safetensors.ts';

export type Shapes = Record<string, number[]>;

export function writeSafetensors(path: string, shapes: Shapes): string {
  mkdirSync(dirname(path), { recursive: true });
  const tensors: Parameters<typeof encodeSafetensors>[0] = {};
  for (const [name, shape] of Object.entries(shapes)) {
    tensors[name] = { dtype: 'F16', shape, data: new Uint16Array(shape.reduce((a, b) => a * b, 1)) };
  }
  writeFileSync(path, encodeSafetensors(tensors));
  return path;
}

/** A minimal ONNX ModelProto prefix: ir_version 8, producer "test", then an (empty) graph. */
export function writeOnnx(path: string): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, Buffer.from([0x08, 0x08, 0x12, 0x04, ...Buffer.from('test'), 0x3a, 0x00]));
  return path;
}

export function writeFile(path: string, content: string | Buffer): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  return path;
}

const D = 8; // tiny width; cross-attention context 16 keeps SD1.5 topology semantics

export function ldmCheckpoint(opts: { crossDim?: number; inChannels?: number; sdxl?: boolean; sdxlRefiner?: boolean; sd2?: boolean } = {}): Shapes {
  const s: Shapes = {
    'model.diffusion_model.input_blocks.0.0.weight': [D, opts.inChannels ?? 4, 3, 3],
    'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight': [D, opts.crossDim ?? 16],
    'model.diffusion_model.out.2.weight': [4, D, 3, 3],
    'first_stage_model.encoder.down.0.block.0.conv1.weight': [D, D, 3, 3],
    'first_stage_model.decoder.up.0.block.0.conv1.weight': [D, D, 3, 3],
  };
  if (opts.sdxl) {
    s['conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight'] = [10, D];
    s['conditioner.embedders.1.model.token_embedding.weight'] = [10, D];
    s['model.diffusion_model.label_emb.0.0.weight'] = [D, 16];
  } else if (opts.sdxlRefiner) {
    s['conditioner.embedders.0.model.token_embedding.weight'] = [10, D];
    s['model.diffusion_model.label_emb.0.0.weight'] = [D, 16];
  } else if (opts.sd2) {
    s['cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight'] = [3 * D, D];
  } else {
    s['cond_stage_model.transformer.text_model.embeddings.token_embedding.weight'] = [10, D];
  }
  return s;
}

export function lllyasvielControlNet(prefix = ''): Shapes {
  return {
    [`${prefix}input_hint_block.0.weight`]: [4, 3, 3, 3],
    [`${prefix}input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight`]: [D, 16],
    ...Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`${prefix}zero_convs.${i}.0.weight`, [D, D, 1, 1]])),
    [`${prefix}middle_block_out.0.weight`]: [D, D, 1, 1],
  };
}

function ipLayers(cross: number, lora = false): Shapes {
  const s: Shapes = {};
  for (let i = 0; i < 32; i++) {
    if (i % 2 === 1) {
      s[`ip_adapter.${i}.to_k_ip.weight`] = [D, cross];
      s[`ip_adapter.${i}.to_v_ip.weight`] = [D, cross];
    }
    if (lora) {
      s[`ip_adapter.${i}.to_q_lora.down.weight`] = [4, D];
      s[`ip_adapter.${i}.to_q_lora.up.weight`] = [D, 4];
    }
  }
  return s;
}

/** h94 IP-Adapter files; `embed` is the CLIP width (1024 = ViT-H image_embeds, 1280 = ViT-H hidden). */
export function ipAdapter(variant: 'base' | 'plus' | 'faceid' | 'portrait' | 'faceid-plus' | 'full-face', cross = 16, embed?: number): Shapes {
  switch (variant) {
    case 'base':
      return { 'image_proj.proj.weight': [4 * cross, embed ?? 24], 'image_proj.norm.weight': [cross], ...ipLayers(cross) };
    case 'plus':
      return {
        'image_proj.latents': [1, 16, D],
        'image_proj.proj_in.weight': [D, embed ?? 32],
        'image_proj.proj_out.weight': [cross, D],
        'image_proj.layers.0.0.to_q.weight': [D, D],
        'image_proj.norm_out.weight': [cross],
        ...ipLayers(cross),
      };
    case 'faceid':
    case 'portrait': {
      const tokens = variant === 'portrait' ? 16 : 4;
      return { 'image_proj.proj.0.weight': [32, 64], 'image_proj.proj.2.weight': [tokens * cross, 32], 'image_proj.norm.weight': [cross], ...ipLayers(cross, variant === 'faceid') };
    }
    case 'faceid-plus':
      return {
        'image_proj.proj.0.weight': [32, 64],
        'image_proj.proj.2.weight': [4 * cross, 32],
        'image_proj.norm.weight': [cross],
        'image_proj.perceiver_resampler.proj_in.weight': [cross, embed ?? 32],
        'image_proj.perceiver_resampler.layers.0.0.to_q.weight': [cross, cross],
        ...ipLayers(cross, true),
      };
    case 'full-face':
      return { 'image_proj.proj.0.weight': [32, 24], 'image_proj.proj.2.weight': [cross, 32], 'image_proj.proj.3.weight': [cross], ...ipLayers(cross) };
  }
}

/** HF CLIPVisionModelWithProjection keys; hidden 1280 is ViT-H/14, 1664 ViT-bigG/14. */
export function clipVision(hidden: number, proj = 16): Shapes {
  return {
    'vision_model.embeddings.patch_embedding.weight': [hidden, 3, 14, 14],
    'vision_model.embeddings.class_embedding': [hidden],
    'vision_model.encoder.layers.0.layer_norm1.weight': [hidden],
    'vision_model.post_layernorm.weight': [hidden],
    'visual_projection.weight': [proj, hidden],
  };
}

export function kohyaLora(cross = 16): Shapes {
  return {
    'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight': [4, cross],
    'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight': [D, 4],
    'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.alpha': [],
    'lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight': [4, D],
  };
}

export function peftLora(cross = 16): Shapes {
  return {
    'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight': [4, cross],
    'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora_B.weight': [D, 4],
  };
}

export function diffusersUnet(cross = 16, sdxl = false): Shapes {
  return {
    'conv_in.weight': [D, 4, 3, 3],
    'time_embedding.linear_1.weight': [32, D],
    'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight': [D, cross],
    'up_blocks.1.resnets.0.conv1.weight': [D, D, 3, 3],
    ...(sdxl ? { 'add_embedding.linear_1.weight': [32, 16] } : {}),
  };
}

export function tokenizerFiles(dir: string): void {
  writeFile(`${dir}/vocab.json`, JSON.stringify({ '<|startoftext|>': 0, '<|endoftext|>': 1 }));
  writeFile(`${dir}/merges.txt`, '#version: 0.2\nt h\n');
}
