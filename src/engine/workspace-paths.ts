import { realpathSync } from 'node:fs';
import path from 'node:path';

/**
 * Where a path really leads once every symbolic link on the way is followed. A path that does not
 * exist yet (a staging folder before the first run) resolves through its nearest existing
 * ancestor, since that is where it will be created.
 */
export function realLocation(target: string): string {
  const rest: string[] = [];
  for (let current = path.resolve(target); ; current = path.dirname(current)) {
    try {
      return path.join(realpathSync.native(current), ...rest.reverse());
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || path.dirname(current) === current) return path.resolve(target);
      rest.push(path.basename(current));
    }
  }
}

function within(root: string, target: string): boolean {
  const relative = path.relative(root, target);
  return relative === '' || (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}

/** The option that lets a symbolic link lead out of the workspace (off by default). */
export const OUTSIDE_OPTION = 'settings.followSymlinksOutsideWorkspace';

/**
 * Undefined when `target` stays inside the workspace `root` after symbolic links are followed;
 * otherwise the sentence that refuses it (naming what, the path, where it leads, and the option).
 * Lexically escaping paths (`../x`) are refused elsewhere: this catches the links.
 */
export function symlinkEscape(root: string, target: string, what: string): string | undefined {
  const real = realLocation(target);
  if (within(realLocation(root), real)) return undefined;
  return `${what} ${path.relative(root, target) || target} leads through a symbolic link to ${real}, outside the workspace ${root}: Tightloop stages and sends only files inside it (set ${OUTSIDE_OPTION}: true to allow this)`;
}
