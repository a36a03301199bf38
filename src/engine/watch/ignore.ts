import path from 'node:path';
import picomatch from 'picomatch';

/**
 * gitignore-like matching relative to the config folder: a pattern with a "/" matches the path
 * ("target/**" also matches the folder "target" itself, so it is never entered); a pattern
 * without one matches the file name anywhere ("*.swp").
 */
export function ignoreMatcher(root: string, patterns: string[]): (absolute: string) => boolean {
  const withSlash = patterns.filter((p) => p.includes('/'));
  const nameOnly = patterns.filter((p) => !p.includes('/'));
  const matchPath = withSlash.length ? picomatch(withSlash.map((p) => p.replace(/^\.?\//, '')), { dot: true }) : () => false;
  const matchName = nameOnly.length ? picomatch(nameOnly, { dot: true }) : () => false;
  return (absolute) => {
    const relative = path.relative(root, absolute).split(path.sep).join('/');
    if (relative.startsWith('..')) return false;
    return matchPath(relative) || matchName(path.basename(absolute));
  };
}

/** Is `child` the folder `parent` or inside it? */
export function isWithin(parent: string, child: string): boolean {
  return child === parent || child.startsWith(parent.endsWith(path.sep) ? parent : parent + path.sep);
}
