import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import * as h from './helpers.js';

/**
 * A toolchain image for the dev build container tests, built FROM scratch (nothing can be pulled
 * here): Debian's static busybox with every applet linked in /bin, so /bin/sh, sleep, kill and ps
 * exist. `marker` goes into /etc/marker, making a second image with a different ID.
 */
export async function buildToolchainImage(tag: string, marker = 'one'): Promise<void> {
  const dir = await h.tempDir('tl-toolchain-');
  await h.mkdir(h.path.join(dir, 'bin'));
  await h.mkdir(h.path.join(dir, 'etc'));
  await h.writeFile(h.path.join(dir, 'bin', 'busybox'), await readFile('/bin/busybox'), { mode: 0o755 });
  const { symlink } = await import('node:fs/promises');
  const applets = (await execa('/bin/busybox', ['--list'])).stdout.split('\n').filter((a) => a && a !== 'busybox');
  for (const applet of applets) await symlink('busybox', h.path.join(dir, 'bin', applet));
  await h.writeFile(h.path.join(dir, 'etc', 'marker'), `${marker}\n`);
  await h.writeFile(h.path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY bin /bin\nCOPY etc /etc\n');
  await execa('docker', ['build', '-q', '-t', tag, dir], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });
  await h.rm(dir, { recursive: true, force: true });
}
