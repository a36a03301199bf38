/**
 * `${env:NAME}` inside a shell command is never pasted into the command text: a value such as
 * `main; touch x` would run. Instead the command gets `"${TIGHTLOOP_ENV_NAME}"` and the value is
 * passed as that environment variable, so the shell expands it as one word (also inside a
 * double-quoted string) and never parses it as shell syntax.
 */

const PREFIX = 'TIGHTLOOP_ENV_';

/** True for the fields that run through a shell: services.*.compile.command and tasks.*.command. */
export function isCommandField(at: readonly PropertyKey[]): boolean {
  return (at.length === 4 && at[0] === 'services' && at[2] === 'compile' && at[3] === 'command') || (at.length === 3 && at[0] === 'tasks' && at[2] === 'command');
}

/** What replaces `${env:NAME}` in a command. */
export function commandReference(name: string): string {
  return `"\${${PREFIX}${name}}"`;
}

/** The variables a command's references need, with their values from `env`. */
export function commandEnv(command: string, env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const match of command.matchAll(/"\$\{TIGHTLOOP_ENV_([A-Za-z_][A-Za-z0-9_]*)\}"/g)) {
    const value = env[match[1]!];
    if (value !== undefined) out[`${PREFIX}${match[1]}`] = value;
  }
  return out;
}
