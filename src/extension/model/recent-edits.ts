/** One text change, in the shape VS Code reports it (0-based lines, before the change). */
export interface TextChange {
  startLine: number;
  endLine: number;
  text: string;
}

const KEPT = 20;

/**
 * The lines of a document the user edited lately, most recent first (1-based, as the config
 * loader counts). Later edits above a remembered line move it, so it keeps pointing at the same
 * text. The loader uses it to name the entry that just closed a dependency cycle.
 */
export class RecentEdits {
  private readonly byDocument = new Map<string, number[]>();

  note(document: string, changes: readonly TextChange[]): void {
    let lines = this.byDocument.get(document) ?? [];
    for (const change of changes) {
      const added = change.text.split('\n').length - 1;
      const removed = change.endLine - change.startLine;
      const shift = added - removed;
      // 1-based: a line after the changed range moves by the change's line-count difference.
      lines = lines.flatMap((line) => {
        if (line - 1 > change.endLine) return [line + shift];
        if (line - 1 > change.startLine + added) return []; // inside a removed range
        return [line];
      });
      const touched = Array.from({ length: added + 1 }, (_, i) => change.startLine + 1 + i);
      lines = [...touched, ...lines.filter((l) => !touched.includes(l))].slice(0, KEPT);
    }
    this.byDocument.set(document, lines);
  }

  lines(document: string): number[] {
    return this.byDocument.get(document) ?? [];
  }

  forget(document: string): void {
    this.byDocument.delete(document);
  }
}
