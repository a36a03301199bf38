import { execa } from 'execa';
import Docker from 'dockerode';

/** The daemon's version, or undefined when no engine answers. */
export async function dockerServerVersion(): Promise<string | undefined> {
  const result = await execa('docker', ['version', '--format', '{{.Server.Version}}'], { reject: false, timeout: 10_000 });
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

/**
 * References (repo:tag, or repo@digest for untagged pushed images) of every image in the
 * repository `prefix` or below it.
 */
export async function imagesUnder(prefix: string): Promise<string[]> {
  const images = await new Docker().listImages({ all: false });
  const ours = (ref: string) => [`${prefix}/`, `${prefix}:`, `${prefix}@`].some((p) => ref.startsWith(p));
  const refs: string[] = [];
  for (const image of images) {
    const tags = (image.RepoTags ?? []).filter(ours);
    if (tags.length) refs.push(...tags);
    else if (!(image.RepoTags ?? []).some((t) => t !== '<none>:<none>')) refs.push(...(image.RepoDigests ?? []).filter(ours));
  }
  return refs;
}

/**
 * Removes this run's images by reference, never by ID (a shared base image can have the same
 * ID) and never forced. Untagged leftovers are found by their repo digest.
 */
export async function cleanupImages(prefix: string, log: (m: string) => void): Promise<void> {
  const refs = await imagesUnder(prefix).catch(() => []);
  let failed = 0;
  for (const ref of refs) {
    const result = await execa('docker', ['rmi', ref], { reject: false });
    if (result.exitCode !== 0) failed++;
  }
  const left = await imagesUnder(prefix).catch(() => []);
  log(`docker cleanup: removed ${refs.length - failed} image reference(s) under ${prefix}${left.length ? `, ${left.length} left: ${left.join(', ')}` : ''}`);
}

/** Remove one image by tag; quiet when it is already gone. */
export async function removeTag(ref: string): Promise<void> {
  await execa('docker', ['rmi', ref], { reject: false });
}
