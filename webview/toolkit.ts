import { provideVSCodeDesignSystem, vsCodeButton, vsCodeTextField } from '@vscode/webview-ui-toolkit';

/**
 * The only module that knows the component library. @vscode/webview-ui-toolkit is archived
 * upstream: replacing it means rewriting these few factories, nothing else.
 */
provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeTextField());

export interface ButtonOptions {
  appearance?: 'primary' | 'secondary' | 'icon';
  title?: string;
  disabled?: boolean;
  className?: string;
  onClick: () => void;
}

export function button(label: string, options: ButtonOptions): HTMLElement {
  const el = document.createElement('vscode-button');
  el.setAttribute('appearance', options.appearance ?? 'secondary');
  el.textContent = label;
  if (options.title) {
    el.setAttribute('title', options.title);
    el.setAttribute('aria-label', options.title);
  }
  if (options.disabled) el.setAttribute('disabled', '');
  if (options.className) el.className = options.className;
  el.addEventListener('click', (event) => {
    event.stopPropagation();
    if (!el.hasAttribute('disabled')) options.onClick();
  });
  return el;
}

export function textField(options: { placeholder: string; value: string; label: string; onInput: (value: string) => void }): HTMLElement {
  const el = document.createElement('vscode-text-field');
  el.setAttribute('placeholder', options.placeholder);
  el.setAttribute('aria-label', options.label);
  el.setAttribute('value', options.value);
  el.addEventListener('input', () => options.onInput(String((el as unknown as { value?: string }).value ?? '')));
  return el;
}

/** A plain span: the toolkit's badge binds a style attribute in its template, which the CSP refuses. */
export function badge(text: string, title?: string): HTMLElement {
  const el = document.createElement('span');
  el.className = 'badge';
  el.textContent = text;
  if (title) el.setAttribute('title', title);
  return el;
}

/**
 * A CSS spinner. (The toolkit's progress ring binds a style attribute in its template, which the
 * panel's CSP rightly refuses.)
 */
export function spinner(label: string): HTMLElement {
  const el = document.createElement('span');
  el.setAttribute('role', 'progressbar');
  el.setAttribute('aria-label', label);
  el.className = 'spinner';
  return el;
}
