/**
 * The name a command was given: a string (palette, panel, status-bar links, tests) or the row of
 * the Tightloop view whose inline action was clicked (VS Code passes the tree element).
 */
export function nameArg(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (arg && typeof arg === 'object' && typeof (arg as { service?: unknown }).service === 'string') return (arg as { service: string }).service;
  return undefined;
}
