/** Small text helpers for messages the engine builds from other programs' output. */

/** One line, single spaces: Docker, registry and helper messages often carry newlines. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/\s+/g, ' ').trim();
}
