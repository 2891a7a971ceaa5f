/**
 * Prompt text normalisation of the CLIP tokenizer (OpenAI simple_tokenizer with ftfy, as SD1.5 uses it):
 * ftfy.fix_text (character repairs and NFC; ./ftfy.ts), html.unescape twice, strip, whitespace runs -> one space,
 * lowercase (../shared/fixtures/README.md).
 */
import { fixText } from './ftfy.ts';
import { htmlUnescape } from './html.ts';

/** Python's str.isspace() set, which `\s` of Python's re and str.strip() use (JS `\s` differs slightly). */
export const PY_WHITESPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WS_RUN = new RegExp(`[${PY_WHITESPACE}]+`, 'gu');
const WS_EDGES = new RegExp(`^[${PY_WHITESPACE}]+|[${PY_WHITESPACE}]+$`, 'gu');

/** Python's str.strip() (its whitespace set). */
export function pyStrip(text: string): string {
  return text.replace(WS_EDGES, '');
}

/**
 * The full CLIP normalisation; the result is what the pre-tokenizer regex splits. `ftfy: false` replaces the ftfy
 * repairs by plain NFC (transformers' path without ftfy, minus its per-ideograph CJK split).
 */
export function normalizePrompt(text: string, opts: { readonly ftfy?: boolean } = {}): string {
  let t = opts.ftfy === false ? text.normalize('NFC') : fixText(text);
  t = pyStrip(htmlUnescape(htmlUnescape(t)));
  t = pyStrip(t.replace(WS_RUN, ' '));
  return t.toLowerCase();
}
