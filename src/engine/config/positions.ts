import { isMap, isPair, isScalar, LineCounter, type Document, type Node } from 'yaml';

/** Maps a field path (as zod reports it) to a line/column in the YAML source. */
export class PositionFinder {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /**
   * The position of `path`, or of its nearest existing ancestor when the field is missing.
   * With `key`, the position of that key inside the map at `path` (for unknown keys).
   */
  locate(path: readonly PropertyKey[], key?: string): { line: number; column: number; range?: [number, number] } {
    let node: unknown = this.doc.contents;
    let best: Node | undefined = this.doc.contents ?? undefined;
    const segments = key === undefined ? path : [...path, key];
    for (const [i, segment] of segments.entries()) {
      if (!isMap(node) && !(node && typeof node === 'object' && 'items' in node)) break;
      const items = (node as { items: unknown[] }).items;
      let next: unknown;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment));
        if (!pair) break;
        // For the last segment of an unknown key, point at the key itself.
        if (key !== undefined && i === segments.length - 1) {
          best = pair.key as Node;
          break;
        }
        next = pair.value ?? pair.key;
      } else {
        next = typeof segment === 'number' ? items[segment] : undefined;
      }
      if (!next) break;
      node = next;
      best = next as Node;
    }
    return this.at(best?.range?.[0] ?? 0, best?.range ? [best.range[0], best.range[1]] : undefined);
  }

  at(offset: number, range?: [number, number]) {
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col, range };
  }
}
