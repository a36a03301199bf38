/**
 * Runtime strings go through `l10n.t(...)`, so a translation is one file away
 * (l10n/bundle.l10n.<locale>.json, keyed by the English text). Pure modules under model/ are
 * unit-tested without VS Code, so they call this shim; activation installs `vscode.l10n.t` behind
 * it. Without a translation both give the English text with `{0}`, `{1}`… filled in.
 *
 * The first argument must be a string literal: scripts/gen-l10n.ts collects them into
 * l10n/bundle.l10n.json and a test keeps that file current.
 */
export type Translate = (message: string, ...args: (string | number | boolean)[]) => string;

let translate: Translate = format;

export const l10n = {
  t: (message: string, ...args: (string | number | boolean)[]): string => translate(message, ...args),
};

export function useTranslator(t: Translate): void {
  translate = t;
}

export function format(message: string, ...args: (string | number | boolean)[]): string {
  return message.replace(/\{(\d+)\}/g, (whole, index: string) => (args[Number(index)] === undefined ? whole : String(args[Number(index)])));
}
