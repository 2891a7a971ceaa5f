/** Python's html.unescape: numeric character references and the HTML5 named references. */
import { LEGACY_ENTITY_NAMES, namedEntities } from './html-entities.ts';

const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/g;

/** windows-1252 decoding of 0x80..0x9f (undefined bytes stay themselves), which Python applies to numeric references. */
export const CP1252_80_9F = '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

/** Python's remapping of numeric references 0x80..0x9f, NUL and CR. */
function invalidCharref(num: number): string | undefined {
  if (num === 0) return '\ufffd';
  if (num === 0x0d) return '\r';
  if (num >= 0x80 && num <= 0x9f) return CP1252_80_9F[num - 0x80];
  return undefined;
}

/** Code points Python's html.unescape drops from numeric references. */
function isDroppedCodepoint(n: number): boolean {
  return (n >= 0x1 && n <= 0x8) || n === 0xb || (n >= 0xe && n <= 0x1f) || (n >= 0x7f && n <= 0x9f) ||
    (n >= 0xfdd0 && n <= 0xfdef) || (n & 0xfffe) === 0xfffe;
}

function numericRef(s: string): string {
  const hex = s[1] === 'x' || s[1] === 'X';
  const digits = s.slice(hex ? 2 : 1).replace(/;$/, '');
  const num = parseInt(digits, hex ? 16 : 10);
  const special = invalidCharref(num);
  if (special !== undefined) return special;
  if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
  if (isDroppedCodepoint(num)) return '';
  return String.fromCodePoint(num);
}

function namedRef(s: string): string {
  const table = namedEntities();
  if (s.endsWith(';')) {
    const v = table.get(s.slice(0, -1));
    if (v !== undefined) return v;
  } else if (LEGACY_ENTITY_NAMES.has(s)) {
    return table.get(s)!;
  }
  // Longest legacy name prefix ("&ampfoo" -> "&foo"), as Python does.
  for (let x = s.length - 1; x > 1; x--) {
    const name = s.slice(0, x);
    if (LEGACY_ENTITY_NAMES.has(name)) return table.get(name)! + s.slice(x);
  }
  return `&${s}`;
}

/** Python's html.unescape: numeric and HTML5 named character references. */
export function htmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(CHARREF, (_m, s: string) => (s[0] === '#' ? numericRef(s) : namedRef(s)));
}
