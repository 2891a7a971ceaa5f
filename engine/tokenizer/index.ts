/** CLIP tokenizer and the A1111-style prompt syntax (docs/prompts.md). */
export { BOS_ID, CONTEXT_LENGTH, ClipTokenizer, EOS_ID, OPENCLIP_PAD_ID, bytesToUnicode, frameIds } from './clip.ts';
export { fixText } from './ftfy.ts';
export { htmlUnescape } from './html.ts';
export { normalizePrompt } from './normalize.ts';
export {
  applyPromptWeights, emptyChunk, encodePrompt, padChunks, parsePromptAttention,
  type EncodePromptOptions, type EncodedPrompt, type PromptChunk, type PromptFragment,
} from './prompt.ts';
