/**
 * Test-side stand-ins for the UXP Spectrum widgets the panel uses (sp-button, sp-action-button,
 * sp-textfield, sp-textarea, sp-slider, sp-picker + sp-menu/sp-menu-item, sp-checkbox), so headless
 * Chromium can run index.html. They offer only the surface the panel relies on (panel-view.ts names
 * it): `value`, `checked`, `selectedIndex`, `input`/`change` events, the `disabled`, `selected` and
 * `placeholder` attributes. Each draws a native control in an open shadow root — Playwright reaches it
 * as `#id input` / `#id select` — in colours close to Photoshop's dark theme, for the screenshots.
 * Never part of the shipped bundle: the fake host's page script installs them.
 */
const BASE = `:host { display: inline-flex; box-sizing: border-box; font: inherit; color: #e3e3e3; vertical-align: middle; }
:host([disabled]) { opacity: 0.4; pointer-events: none; }
:host(.hidden) { display: none !important; }
input, textarea, select { font: inherit; color: #e3e3e3; background: #1f1f1f; border: 1px solid #555; border-radius: 4px;
  padding: 3px 6px; min-height: 24px; width: 100%; box-sizing: border-box; outline: none; }
input:focus, textarea:focus, select:focus { border-color: #378ef0; }`;

function shadow(host: HTMLElement, css: string, html: string): ShadowRoot {
  const root = host.attachShadow({ mode: 'open' });
  root.innerHTML = `<style>${BASE}\n${css}</style>${html}`;
  return root;
}

/** Re-fires a control's `change` on the host (a native change event does not leave the shadow root). */
function forwardChange(host: HTMLElement, control: HTMLElement): void {
  control.addEventListener('change', () => host.dispatchEvent(new Event('change', { bubbles: true })));
}

class SpButton extends HTMLElement {
  constructor() {
    super();
    shadow(this, `:host { border: 2px solid #8e8e8e; border-radius: 14px; padding: 2px 12px; min-height: 24px; align-items: center; justify-content: center;
      font-weight: 700; cursor: pointer; white-space: nowrap; }
      :host([variant=cta]) { background: #378ef0; border-color: #378ef0; color: #fff; min-height: 30px; border-radius: 16px; }
      :host([variant=primary]) { border-color: #e3e3e3; }`, '<slot></slot>');
    // A disabled widget swallows clicks (UXP's do).
    this.addEventListener('click', (e) => {
      if (this.hasAttribute('disabled')) e.stopImmediatePropagation();
    }, true);
  }
}

class SpActionButton extends HTMLElement {
  constructor() {
    super();
    shadow(this, `:host { border: 1px solid #5a5a5a; border-radius: 4px; padding: 2px 8px; min-height: 24px; align-items: center; justify-content: center;
      background: #3a3a3a; cursor: pointer; white-space: nowrap; }
      :host([quiet]) { border-color: transparent; background: transparent; }
      :host([selected]) { background: #5c5c5c; border-color: #8a8a8a; color: #fff; font-weight: 700; }`, '<slot></slot>');
    this.addEventListener('click', (e) => {
      if (this.hasAttribute('disabled')) e.stopImmediatePropagation();
    }, true);
  }
}

/** sp-textfield / sp-textarea: `value`, `placeholder`, `type` (password, number). */
class SpTextBase extends HTMLElement {
  static observedAttributes = ['placeholder'];
  protected control: HTMLInputElement | HTMLTextAreaElement;
  constructor(multiline: boolean) {
    super();
    const root = shadow(this, multiline ? ':host { display: block; } textarea { min-height: 54px; resize: vertical; display: block; }' : ':host { min-width: 40px; }',
      multiline ? '<textarea></textarea>' : '<input>');
    this.control = root.querySelector(multiline ? 'textarea' : 'input')!;
    forwardChange(this, this.control);
  }
  // Attributes are not there yet in the constructor of a parser-made element.
  connectedCallback(): void {
    if (this.getAttribute('type') === 'password') (this.control as HTMLInputElement).type = 'password';
  }
  attributeChangedCallback(): void {
    this.control.placeholder = this.getAttribute('placeholder') ?? '';
  }
  get value(): string { return this.control.value; }
  set value(v: string) { this.control.value = String(v); }
}
class SpTextfield extends SpTextBase { constructor() { super(false); } }
class SpTextarea extends SpTextBase { constructor() { super(true); } }

class SpSlider extends HTMLElement {
  private control: HTMLInputElement;
  constructor() {
    super();
    const root = shadow(this, 'input { padding: 0; border: none; background: transparent; accent-color: #b3b3b3; min-height: 18px; }', '<input type="range">');
    this.control = root.querySelector('input')!;
    forwardChange(this, this.control);
  }
  connectedCallback(): void {
    const v = this.control.value;
    for (const a of ['min', 'max', 'step']) this.control.setAttribute(a, this.getAttribute(a) ?? '');
    this.control.value = v;
  }
  get value(): number { return Number(this.control.value); }
  set value(v: number) { this.control.value = String(v); }
}

class SpCheckbox extends HTMLElement {
  private control: HTMLInputElement;
  constructor() {
    super();
    const root = shadow(this, 'label { display: inline-flex; align-items: center; } input { width: auto; min-height: 0; margin: 0 4px 0 0; accent-color: #b3b3b3; }',
      '<label><input type="checkbox"><slot></slot></label>');
    this.control = root.querySelector('input')!;
    forwardChange(this, this.control);
  }
  get checked(): boolean { return this.control.checked; }
  set checked(v: boolean) { this.control.checked = v; }
}

/** sp-picker: a native <select> mirroring the sp-menu-items of its options menu and their `selected` marks. */
class SpPicker extends HTMLElement {
  private control: HTMLSelectElement;
  constructor() {
    super();
    const root = shadow(this, ':host { min-width: 0; } ::slotted(*) { display: none; }', '<select></select><slot name="options"></slot>');
    this.control = root.querySelector('select')!;
    this.control.addEventListener('change', () => {
      this.items().forEach((m, i) => (i === this.control.selectedIndex ? m.setAttribute('selected', '') : m.removeAttribute('selected')));
      this.dispatchEvent(new Event('change', { bubbles: true }));
    });
    new MutationObserver(() => this.mirror()).observe(this, { subtree: true, childList: true, attributes: true, characterData: true });
  }
  connectedCallback(): void {
    this.mirror();
  }
  private items(): Element[] {
    return Array.from(this.getElementsByTagName('sp-menu-item'));
  }
  private mirror(): void {
    const items = this.items();
    this.control.textContent = '';
    for (const m of items) {
      const o = document.createElement('option');
      o.textContent = m.textContent ?? '';
      this.control.appendChild(o);
    }
    this.control.selectedIndex = items.findIndex((m) => m.hasAttribute('selected'));
  }
  get selectedIndex(): number {
    return this.items().findIndex((m) => m.hasAttribute('selected'));
  }
}

class SpPlain extends HTMLElement {}

export function defineSpectrumStandIns(): void {
  const defs: Array<[string, CustomElementConstructor]> = [
    ['sp-button', SpButton], ['sp-action-button', SpActionButton], ['sp-textfield', SpTextfield], ['sp-textarea', SpTextarea],
    ['sp-slider', SpSlider], ['sp-checkbox', SpCheckbox], ['sp-picker', SpPicker], ['sp-menu', class extends SpPlain {}], ['sp-menu-item', class extends SpPlain {}],
  ];
  for (const [name, ctor] of defs) if (!customElements.get(name)) customElements.define(name, ctor);
}
