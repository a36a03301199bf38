import { StageError } from './stages/stage.js';

/*
 * kubernetes.allowContexts: the only Kubernetes contexts Tightloop may change. Here, apart from the
 * Kubernetes client, because the Docker side needs it too (a cluster's advertised registry and
 * `kind load` are changes to that cluster).
 */

/** Context-name globs: `*` matches anything (including "/" and ":" found in cloud context names), `?` one character. */
export function contextAllowed(context: string, globs: string[]): boolean {
  return globs.some((glob) => {
    const re = new RegExp(`^${glob.split('').map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('')}$`);
    return re.test(context);
  });
}

/** The refusal every write path throws before sending anything. */
export function refusedContextError(context: string, globs: string[]): StageError {
  return new StageError(`Context "${context}" is not in kubernetes.allowContexts, so Tightloop will not change anything in it.`, {
    hint:
      `To allow it, add it to tightloop.yaml:\n  kubernetes:\n    allowContexts: [${[...globs, context].map((g) => JSON.stringify(g)).join(', ')}]\n` +
      'or switch to a local cluster (kubectl config use-context kind-…).',
    evidence: [`allowed: ${globs.length ? globs.join(', ') : '(none)'}`],
  });
}
