import type { ResolvedConfig } from './resolved.js';

export interface CycleProblem {
  path: PropertyKey[];
  message: string;
}

/**
 * How recently the entry at a field path was edited: a smaller number is more recent, undefined
 * when unknown. The editor knows; the CLI does not pass one.
 */
export type EditRank = (fieldPath: readonly PropertyKey[]) => number | undefined;

interface Edge {
  from: string;
  to: string;
  path: PropertyKey[];
}

/**
 * Every dependency cycle, reported on each of its edges (the `dependsOn` entries) so the user
 * sees all the places that could break it. One edge is named as the one that closes the cycle:
 * the most recently edited one when `editRank` knows, else the one the search met last.
 */
export function checkCycles(config: ResolvedConfig, editRank: EditRank = () => undefined): CycleProblem[] {
  const nodes = new Map(
    [
      ...Object.values(config.services).map((s) => ({ name: s.name, section: 'services', dependsOn: s.dependsOn })),
      ...Object.values(config.tasks).map((t) => ({ name: t.name, section: 'tasks', dependsOn: t.dependsOn })),
    ].map((n) => [n.name, n]),
  );
  const state = new Map<string, 'visiting' | 'done'>();
  const cycles: Edge[][] = [];
  const visit = (name: string, trail: Edge[]) => {
    state.set(name, 'visiting');
    const node = nodes.get(name)!;
    node.dependsOn.forEach((dep, i) => {
      if (dep === name || !nodes.has(dep)) return; // reported as self/unknown dependencies
      const edge = { from: name, to: dep, path: [node.section, name, 'dependsOn', i] };
      if (state.get(dep) === 'visiting') cycles.push([...trail.slice(trail.findIndex((e) => e.from === dep)), edge]);
      else if (!state.has(dep)) visit(dep, [...trail, edge]);
    });
    state.set(name, 'done');
  };
  for (const name of nodes.keys()) if (!state.has(name)) visit(name, []);

  const problems: CycleProblem[] = [];
  for (const cycle of cycles) {
    const closing = closingEdge(cycle, editRank);
    const where = closing.path.map(String).join('.');
    for (const [k, edge] of cycle.entries()) {
      const rotated = [...cycle.slice(k), ...cycle.slice(0, k)];
      const chain = [...rotated.map((e) => e.from), edge.from].join(' → ');
      const message = edge === closing ? `dependency cycle: ${chain} (this entry closes it)` : `dependency cycle: ${chain} (closed by ${where})`;
      problems.push({ path: edge.path, message });
    }
  }
  // The closing entries first: they are where the user most likely wants to look.
  return problems.sort((a, b) => Number(b.message.endsWith('(this entry closes it)')) - Number(a.message.endsWith('(this entry closes it)')));
}

function closingEdge(cycle: Edge[], editRank: EditRank): Edge {
  let best = cycle[cycle.length - 1]!;
  let bestRank = editRank(best.path);
  for (const edge of cycle) {
    const rank = editRank(edge.path);
    if (rank !== undefined && (bestRank === undefined || rank < bestRank)) {
      best = edge;
      bestRank = rank;
    }
  }
  return best;
}
