/**
 * The character-level repairs of ftfy.fix_text (ftfy 6, default config), which OpenAI's CLIP tokenizer and
 * transformers' CLIPTokenizer (when ftfy is installed, as in diffusers / A1111 setups) run before tokenizing.
 *
 * Per line (each segment ends after its '\n'), repeated until nothing changes: HTML entities ending in ';'
 * (plus upper-case Latin ones such as &EACUTE;; skipped from the first line containing '<' on), C1 controls read as
 * windows-1252, Latin ligatures split, full/half-width forms and U+3000 to standard width, curly quotes to straight,
 * line separators to '\n', ANSI escapes and other control characters removed, NFC.
 * Not done: ftfy's mojibake detection (fix_encoding), which needs its statistical "badness" heuristic.
 */
import { CP1252_80_9F, htmlUnescape } from './html.ts';
import { namedEntities } from './html-entities.ts';

const ENTITY = /&#?[0-9A-Za-z]{1,24};/g;
const C1 = /[\x80-\x9f]/g;
const LIGATURES: Record<string, string> = {
  'Ĳ': 'IJ', 'ĳ': 'ij', 'ŉ': 'ʼn', 'Ǳ': 'DZ', 'ǲ': 'Dz', 'ǳ': 'dz', 'Ǆ': 'DŽ', 'ǅ': 'Dž', 'ǆ': 'dž', 'Ǉ': 'LJ', 'ǈ': 'Lj',
  'ǉ': 'lj', 'Ǌ': 'NJ', 'ǋ': 'Nj', 'ǌ': 'nj', 'ﬀ': 'ff', 'ﬁ': 'fi', 'ﬂ': 'fl', 'ﬃ': 'ffi', 'ﬄ': 'ffl', 'ﬅ': 'ſt', 'ﬆ': 'st',
};
const LIGATURE_RE = new RegExp(`[${Object.keys(LIGATURES).join('')}]`, 'g');
const WIDE = /[\u3000\uff01-\uffef]/g;
const SINGLE_QUOTE = /[\u02bc\u2018-\u201b]/g;
const DOUBLE_QUOTE = /[\u201c-\u201f]/g;
const LINE_BREAK = /\r\n|[\r\u2028\u2029\x85]/g;
const ANSI = /\x1b\[((?:\d|;)*)([a-zA-Z])/g;
const CONTROL = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;

let upperEntities: Map<string, string> | null = null;

/** ftfy's entity table: every HTML5 name ending in ';', plus upper-cased all-lowercase names that are not entities themselves. */
function ftfyEntities(): Map<string, string> {
  if (upperEntities) return upperEntities;
  const map = new Map<string, string>();
  for (const [name, value] of namedEntities()) {
    map.set(`&${name};`, value);
  }
  for (const [name, value] of namedEntities()) {
    if (name !== name.toLowerCase()) continue;
    const upper = `&${name.toUpperCase()};`;
    if (!map.has(upper) && htmlUnescape(upper) === upper) map.set(upper, value.toUpperCase());
  }
  upperEntities = map;
  return map;
}

function ftfyUnescape(text: string): string {
  if (!text.includes('&')) return text;
  const table = ftfyEntities();
  return text.replace(ENTITY, (m) => {
    const v = table.get(m);
    if (v !== undefined) return v;
    if (m.startsWith('&#')) {
      const u = htmlUnescape(m);
      return u.includes(';') ? m : u;
    }
    return m;
  });
}

/** One pass of the fixers, in ftfy's order. */
function fixOnce(text: string, unescape: boolean): string {
  let t = unescape ? ftfyUnescape(text) : text;
  t = t.replace(C1, (c) => CP1252_80_9F[c.charCodeAt(0) - 0x80]);
  t = t.replace(LIGATURE_RE, (c) => LIGATURES[c]);
  t = t.replace(WIDE, (c) => (c === '\u3000' ? ' ' : c.normalize('NFKC')));
  t = t.replace(DOUBLE_QUOTE, '"').replace(SINGLE_QUOTE, "'");
  t = t.replace(LINE_BREAK, '\n');
  t = t.replace(ANSI, '').replace(CONTROL, '');
  return t.normalize('NFC');
}

/** ftfy.fix_text without mojibake repair. */
export function fixText(text: string): string {
  let unescape = true;
  let out = '';
  let pos = 0;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    const end = nl === -1 ? text.length : nl + 1;
    let seg = text.slice(pos, end);
    // Once a segment looks like HTML, ftfy stops unescaping for the rest of the text.
    if (unescape && seg.includes('<')) unescape = false;
    for (;;) {
      const next = fixOnce(seg, unescape);
      if (next === seg) break;
      seg = next;
    }
    out += seg;
    pos = end;
  }
  return out;
}
