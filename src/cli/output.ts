import { editDistance } from '../engine/config/field-hints.js';

/** A message of the CLI's own (not an engine event): always has a `type` in --json mode. */
export type CliRecord = { type: string } & Record<string, unknown>;

/**
 * Where the CLI's own messages go. In text mode: people read them, errors on stderr. With
 * --json: every message is one JSON line with a `type`, on stdout only, so a consumer reading
 * stdout line by line never meets plain text; exit codes say the same either way.
 */
export class CliOutput {
  constructor(
    readonly json: boolean,
    private readonly out: NodeJS.WritableStream = process.stdout,
    private readonly err: NodeJS.WritableStream = process.stderr,
  ) {}

  /** `record` as JSON, or `text` (when given) for people. */
  emit(record: CliRecord, text?: string, stream: 'stdout' | 'stderr' = 'stdout'): void {
    if (this.json) this.out.write(`${JSON.stringify(record)}\n`);
    else if (text !== undefined) (stream === 'stderr' ? this.err : this.out).write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** Bad usage: says what and returns exit code 2. */
  usageError(message: string, usage?: string): number {
    this.emit({ type: 'usage-error', message }, `tightloop: ${message}${usage ? `\n\n${usage}` : ''}`, 'stderr');
    return 2;
  }

  /** Anything else that stops the CLI before or outside a run. */
  error(message: string, code: number): number {
    this.emit({ type: 'error', message }, `tightloop: ${message}`, 'stderr');
    return code;
  }
}

/** `unknown service or task "petstor" (did you mean "petstore"? known: …)`. */
export function unknownTargetMessage(name: string, known: string[]): string {
  const close = known
    .map((k) => ({ k, d: editDistance(name.toLowerCase(), k.toLowerCase()) }))
    .filter(({ k, d }) => d <= Math.max(1, Math.floor(k.length / 3)))
    .sort((a, b) => a.d - b.d)[0]?.k;
  return `unknown service or task "${name}" (${close ? `did you mean "${close}"? ` : ''}known: ${known.join(', ')})`;
}
