/**
 * The reference-strength guidance from DESIGN.md as words a slider can show:
 * 0 = off, 0.3–0.5 weak, 0.7–1.0 strong, > 1 overrides the text prompt. Pure.
 */

export type ScaleTone = 'off' | 'subtle' | 'weak' | 'balanced' | 'strong' | 'overrides';

export interface ScaleGuidance {
  tone: ScaleTone;
  label: string;
  hint: string;
}

export function scaleGuidance(scale: number): ScaleGuidance {
  if (!(scale > 0)) return { tone: 'off', label: 'Off', hint: 'The reference is ignored.' };
  if (scale < 0.3) return { tone: 'subtle', label: 'Subtle', hint: 'A faint hint of the reference.' };
  if (scale <= 0.5) return { tone: 'weak', label: 'Weak', hint: '0.3–0.5: the text leads, the reference flavours it.' };
  if (scale < 0.7) return { tone: 'balanced', label: 'Balanced', hint: 'Text and reference about equal.' };
  if (scale <= 1) return { tone: 'strong', label: 'Strong', hint: '0.7–1.0: the reference leads, the text still steers.' };
  return { tone: 'overrides', label: 'Overrides text', hint: 'Above 1 the reference overrides the text prompt.' };
}
