/**
 * A JSON record inside an XMP packet, for editors that keep XMP with layers or documents (Photoshop
 * saves a layer's XMP in the PSD, and it travels with the layer when copied to another document).
 * Only our property is touched: other tools' metadata in the same packet is kept. Pure string work.
 */

export const IPA_XMP_NS = 'http://ns.ipa-bridge.dev/1.0/';
const PREFIX = 'ipaBridge';
const PROP = `${PREFIX}:record`;

export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function xmlUnescape(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|lt|gt|quot|apos|amp);/gi, (_m, e: string) => {
    const k = e.toLowerCase();
    if (k === 'lt') return '<';
    if (k === 'gt') return '>';
    if (k === 'quot') return '"';
    if (k === 'apos') return "'";
    if (k === 'amp') return '&';
    return String.fromCodePoint(k.startsWith('#x') ? parseInt(k.slice(2), 16) : parseInt(k.slice(1), 10));
  });
}

/** Our description block: its own rdf:Description, so it can be replaced without parsing the rest. */
function block(json: string): string {
  return `<rdf:Description rdf:about="" xmlns:${PREFIX}="${IPA_XMP_NS}"><${PROP}>${xmlEscape(json)}</${PROP}></rdf:Description>`;
}

const ELEMENT_RE = new RegExp(`<${PROP}>([\\s\\S]*?)</${PROP}>`);
const ATTRIBUTE_RE = new RegExp(`${PROP}="([^"]*)"`);
const OUR_BLOCK_RE = new RegExp(`<rdf:Description[^>]*xmlns:${PREFIX}="${IPA_XMP_NS.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"[^>]*>[\\s\\S]*?</rdf:Description>`);

/** The JSON text stored in a packet, or null. Accepts the element form and the attribute form XMP tools rewrite it to. */
export function readXmpRecord(xmp: string | null | undefined): string | null {
  if (!xmp) return null;
  const m = ELEMENT_RE.exec(xmp) ?? ATTRIBUTE_RE.exec(xmp);
  return m ? xmlUnescape(m[1]) : null;
}

/** A packet with our record set to `json`: replaced where it was, else added; a new packet when there was none. */
export function writeXmpRecord(xmp: string | null | undefined, json: string): string {
  const ours = block(json);
  if (xmp && OUR_BLOCK_RE.test(xmp)) return xmp.replace(OUR_BLOCK_RE, () => ours);
  if (xmp && ELEMENT_RE.test(xmp)) return xmp.replace(ELEMENT_RE, () => `<${PROP}>${xmlEscape(json)}</${PROP}>`);
  if (xmp && ATTRIBUTE_RE.test(xmp)) return xmp.replace(ATTRIBUTE_RE, () => `${PROP}="${xmlEscape(json)}"`);
  if (xmp && xmp.includes('</rdf:RDF>')) return xmp.replace('</rdf:RDF>', () => `${ours}</rdf:RDF>`);
  return `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">${ours}</rdf:RDF></x:xmpmeta>`;
}
