import { z } from 'zod';

/**
 * The sync protocol spoken with `agent receive` (agent/proto.h is the other side): framed files on
 * the agent's stdin, one JSON object per line on its stdout. The sender trusts the agent's "done"
 * line only — never EOF or the exit status, which containerd's exec can lose or fake.
 */
export const PROTOCOL = 1;
export const AGENT_PATH = '/.tightloop/agent';
export const RECEIVE_ARGV = [AGENT_PATH, 'receive'];

const MAGIC = Buffer.from('TLSY');
const FRAME_FILE = 0x46; // 'F'
const FRAME_APPLY = 0x41; // 'A'

/** What the agent does once every file is in place. */
export type LiveAction =
  | { kind: 'restart'; /** how long to wait for the new process to listen (0: do not wait) */ listenWaitMs: number }
  | { kind: 'signal'; signal: number }
  | { kind: 'none' };

export function preamble(protocol = PROTOCOL): Buffer {
  const b = Buffer.alloc(6);
  MAGIC.copy(b);
  b.writeUInt16BE(protocol, 4);
  return b;
}

/** The header of one file frame; `size` bytes of content follow it. */
export function fileHeader(path: string, mode: number, size: number, sha256Hex: string): Buffer {
  const p = Buffer.from(path, 'utf8');
  const b = Buffer.alloc(1 + 2 + p.length + 4 + 8 + 32);
  let o = b.writeUInt8(FRAME_FILE, 0);
  o = b.writeUInt16BE(p.length, o);
  o += p.copy(b, o);
  o = b.writeUInt32BE(mode & 0o7777, o);
  o = b.writeBigUInt64BE(BigInt(size), o);
  Buffer.from(sha256Hex, 'hex').copy(b, o);
  return b;
}

export function applyFrame(action: LiveAction): Buffer {
  const b = Buffer.alloc(7);
  b.writeUInt8(FRAME_APPLY, 0);
  b.writeUInt8(action.kind === 'restart' ? 1 : action.kind === 'signal' ? 2 : 0, 1);
  b.writeUInt8(action.kind === 'signal' ? action.signal : 0, 2);
  b.writeUInt32BE(action.kind === 'restart' ? Math.max(0, Math.round(action.listenWaitMs)) : 0, 3);
  return b;
}

const hello = z.object({ type: z.literal('hello'), protocol: z.number(), agent: z.string(), targets: z.array(z.string()) });
const done = z.object({
  type: z.literal('done'),
  ok: z.boolean(),
  protocol: z.number(),
  code: z.string().optional(),
  message: z.string().optional(),
  files: z.number().optional(),
  bytes: z.number().optional(),
  writeMs: z.number().optional(),
  action: z.enum(['restart', 'signal', 'none']).optional(),
  pid: z.number().optional(),
  restartMs: z.number().optional(),
  listenMs: z.number().optional(),
  ports: z.array(z.number()).optional(),
  notListeningAfterMs: z.number().optional(),
  signal: z.number().optional(),
  exitCode: z.number().optional(),
  tail: z.array(z.string()).optional(),
});
const message = z.discriminatedUnion('type', [hello, done, z.object({ type: z.literal('file'), path: z.string() })]);

export type AgentHello = z.infer<typeof hello>;
export type AgentDone = z.infer<typeof done>;
export type AgentMessage = z.infer<typeof message>;

/** One stdout line of the agent, or undefined when it is not a protocol message (stray output). */
export function parseAgentLine(line: string): AgentMessage | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const parsed = message.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
