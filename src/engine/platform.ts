/**
 * A target platform ("linux/arm64", "linux/arm/v7") as the values a build command needs: the
 * `${platform}`-style substitutions in compile.command and stage.files[].from, and the
 * TIGHTLOOP_PLATFORM… environment of the compile command. The values are fixed words (the
 * platform is validated by the config schema), so substituting them into a shell command is safe.
 */

export interface PlatformValues {
  /** linux/arm64 */
  platform: string;
  /** linux */
  os: string;
  /** arm64 (Docker/Go naming) */
  arch: string;
  /** v7, or "" */
  variant: string;
  /** aarch64 (uname -m / ELF naming) */
  machine: string;
  /** aarch64-unknown-linux-musl: static binaries for a scratch image */
  rustTarget: string;
}

const MACHINE: Record<string, string> = { amd64: 'x86_64', arm64: 'aarch64', arm: 'arm', '386': 'i686', ppc64le: 'powerpc64le', s390x: 's390x', riscv64: 'riscv64gc' };

export function platformValues(platform: string): PlatformValues {
  const [os = 'linux', arch = '', variant = ''] = platform.split('/');
  const machine = arch === 'arm' ? `armv${variant.replace(/^v/, '') || '7'}` : (MACHINE[arch] ?? arch);
  const rustTarget = arch === 'arm' ? `${machine}-unknown-linux-musleabihf` : `${machine}-unknown-linux-musl`;
  return { platform, os, arch, variant, machine: arch === 'riscv64' ? 'riscv64' : arch === '386' ? 'i386' : machine, rustTarget };
}

/** The names `${…}` may use; anything else is left alone (the shell's own `${VAR}` keeps working). */
export const PLATFORM_VARIABLES = ['platform', 'os', 'arch', 'variant', 'machine', 'rustTarget'] as const;

/** Replaces `${platform}`, `${os}`, `${arch}`, `${variant}`, `${machine}`, `${rustTarget}`. */
export function substitutePlatform(text: string, platform: string): string {
  const values = platformValues(platform);
  return text.replace(/\$\{(platform|os|arch|variant|machine|rustTarget)\}/g, (_, name: keyof PlatformValues) => values[name]);
}

/** True when `text` uses any platform substitution. */
export function usesPlatform(text: string): boolean {
  return /\$\{(platform|os|arch|variant|machine|rustTarget)\}/.test(text);
}

/** The environment of a compile command run for `platform`. */
export function platformEnv(platform: string): Record<string, string> {
  const v = platformValues(platform);
  return {
    TIGHTLOOP_PLATFORM: v.platform,
    TIGHTLOOP_OS: v.os,
    TIGHTLOOP_ARCH: v.arch,
    TIGHTLOOP_VARIANT: v.variant,
    TIGHTLOOP_MACHINE: v.machine,
    TIGHTLOOP_RUST_TARGET: v.rustTarget,
  };
}

/** The staging subfolder of one platform when an image has several: linux-arm64, linux-arm-v7. */
export function platformFolder(platform: string): string {
  return platform.replace(/\//g, '-');
}

/** The platforms an image is built for: image.platforms, else image.platform. */
export function imagePlatforms(image: { platform: string; platforms?: string[] } | undefined): string[] {
  if (!image) return [];
  return image.platforms?.length ? image.platforms : [image.platform];
}
