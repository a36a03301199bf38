import { open } from 'node:fs/promises';

/** What an ELF header says about where a binary can run. */
export interface ElfInfo {
  /** e_machine, e.g. 62 (x86_64), 183 (aarch64). */
  machine: number;
  /** Human name of the machine, e.g. "x86_64". */
  arch: string;
  bits: 32 | 64;
  littleEndian: boolean;
  kind: 'executable' | 'shared object' | 'relocatable' | 'other';
  /** PT_INTERP: the dynamic loader the kernel needs to start it (absent for static binaries). */
  interpreter?: string;
}

interface Target {
  machine: number;
  arch: string;
  bits: 32 | 64;
  littleEndian: boolean;
}

const MACHINES: Record<number, string> = { 3: 'i386', 8: 'mips', 20: 'ppc', 21: 'ppc64', 22: 's390x', 40: 'arm', 62: 'x86_64', 183: 'aarch64', 243: 'riscv64' };

/** Docker platform architecture → the ELF target its kernel runs. */
const PLATFORM_TARGETS: Record<string, Target> = {
  amd64: { machine: 62, arch: 'x86_64', bits: 64, littleEndian: true },
  arm64: { machine: 183, arch: 'aarch64', bits: 64, littleEndian: true },
  arm: { machine: 40, arch: 'arm', bits: 32, littleEndian: true },
  '386': { machine: 3, arch: 'i386', bits: 32, littleEndian: true },
  ppc64le: { machine: 21, arch: 'ppc64le', bits: 64, littleEndian: true },
  s390x: { machine: 22, arch: 's390x', bits: 64, littleEndian: false },
  riscv64: { machine: 243, arch: 'riscv64', bits: 64, littleEndian: true },
};

export function targetForPlatform(platform: string): Target | undefined {
  return PLATFORM_TARGETS[platform.split('/')[1] ?? ''];
}

export function isElf(head: Buffer): boolean {
  return head.length >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
}

/** Parses the ELF header of `file` (reading only what it needs); undefined when it is not ELF. */
export async function readElf(file: string): Promise<ElfInfo | undefined> {
  const handle = await open(file, 'r');
  try {
    const read = async (offset: number, length: number) => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      return buffer.subarray(0, bytesRead);
    };
    const header = await read(0, 64);
    if (!isElf(header) || header.length < 52) return undefined;
    const bits = header[4] === 2 ? 64 : 32;
    const le = header[5] !== 2;
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const word = (b: Buffer, o: number) => (bits === 64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o));
    const type = u16(header, 16);
    const machine = u16(header, 18);
    const info: ElfInfo = {
      machine,
      arch: machine === 21 && le ? 'ppc64le' : (MACHINES[machine] ?? `machine ${machine}`),
      bits,
      littleEndian: le,
      kind: type === 2 ? 'executable' : type === 3 ? 'shared object' : type === 1 ? 'relocatable' : 'other',
    };
    const phoff = word(header, bits === 64 ? 32 : 28);
    const phentsize = u16(header, bits === 64 ? 54 : 42);
    const phnum = u16(header, bits === 64 ? 56 : 44);
    if (!phoff || !phentsize || phnum > 512) return info;
    const table = await read(phoff, phentsize * phnum);
    for (let i = 0; i + phentsize <= table.length; i += phentsize) {
      if (u32(table, i) !== 3) continue; // PT_INTERP
      const offset = word(table, bits === 64 ? i + 8 : i + 4);
      const size = word(table, bits === 64 ? i + 32 : i + 16);
      const raw = await read(offset, Math.min(size, 4096));
      info.interpreter = raw.toString('latin1').replace(/\0.*$/s, '');
    }
    return info;
  } finally {
    await handle.close();
  }
}

/** Why this binary cannot run on `platform`, or undefined when it can. */
export function archMismatch(info: ElfInfo, platform: string): string | undefined {
  const target = targetForPlatform(platform);
  if (!target) return undefined; // an architecture we have no table for: let the engine decide
  if (info.machine === target.machine && info.bits === target.bits && info.littleEndian === target.littleEndian) return undefined;
  const what = `${info.bits}-bit ${info.arch}${info.littleEndian ? '' : ' (big-endian)'}`;
  return `is a ${what} ${info.kind} but the image platform is ${platform} (${target.arch})`;
}
