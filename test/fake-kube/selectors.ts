/**
 * Label and field selectors as the API server parses them (the subset of the grammar clients send:
 * `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, comma-separated = AND).
 */

type Requirement = (labels: Record<string, string>) => boolean;

export function parseLabelSelector(selector: string | null | undefined): Requirement {
  const parts = splitTopLevel(selector ?? '');
  const reqs: Requirement[] = parts.map(parseRequirement);
  return (labels) => reqs.every((r) => r(labels));
}

function parseRequirement(raw: string): Requirement {
  const s = raw.trim();
  let m = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(s);
  if (m) {
    const [, key, op, list] = m as unknown as [string, string, string, string];
    const values = new Set(list.split(',').map((v) => v.trim()).filter(Boolean));
    return op === 'in'
      ? (l) => key in l && values.has(l[key]!)
      : (l) => !(key in l) || !values.has(l[key]!);
  }
  m = /^([^\s!=]+)\s*(==|=|!=)\s*(\S*)$/.exec(s);
  if (m) {
    const [, key, op, value] = m as unknown as [string, string, string, string];
    return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
  }
  if (s.startsWith('!')) {
    const key = s.slice(1).trim();
    return (l) => !(key in l);
  }
  if (/^[^\s!=(),]+$/.test(s)) return (l) => s in l;
  throw new Error(`unable to parse requirement: ${raw}`);
}

/** Commas inside `in (a,b)` do not separate requirements. */
function splitTopLevel(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      if (cur.trim()) out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur);
  return out;
}

/** Field selectors: dotted paths compared with =, == or != (what the API server supports). */
export function parseFieldSelector(selector: string | null | undefined): (obj: unknown) => boolean {
  const reqs = splitTopLevel(selector ?? '').map((raw) => {
    const m = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/.exec(raw.trim());
    if (!m) throw new Error(`invalid field selector: ${raw}`);
    const [, path, op, value] = m as unknown as [string, string, string, string];
    return (obj: unknown) => {
      const actual = String(getPath(obj, path) ?? '');
      return op === '!=' ? actual !== value : actual === value;
    };
  });
  return (obj) => reqs.every((r) => r(obj));
}

function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}
