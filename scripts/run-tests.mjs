// Runs node's test runner over every *.test.ts below the given folders (or the given files) (Node 20 has no --test
// globs). TypeScript is loaded through tsx; files run one at a time because several suites
// share the one Docker engine and registry. A test that leaks a handle (a watcher, a socket)
// must not hang CI: --test-force-exit ends each file once its tests are done.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const folders = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const passThrough = process.argv.slice(2).filter((a) => a.startsWith('--'));
const files = [];
const walk = (dir) => {
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) walk(full);
    else if (entry.endsWith('.test.ts')) files.push(full);
  }
};
for (const folder of folders) {
  if (statSync(folder).isDirectory()) walk(folder);
  else files.push(folder);
}
if (files.length === 0) {
  console.error(`no *.test.ts files under ${folders.join(', ')}`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-force-exit', '--test-timeout=180000', ...passThrough, ...files.sort()], { stdio: 'inherit' });
process.exit(result.status ?? 1);
