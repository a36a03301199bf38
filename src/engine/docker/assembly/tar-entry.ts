import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type tar from 'tar-stream';
import { StageError } from '../../stages/stage.js';

/** A file read into a tar is not the file the image was named after: it changed meanwhile. */
export class ChangedWhileReadError extends StageError {
  constructor(readonly file: string) {
    super(`${file} changed while the image was made from it: nothing was delivered from the mixed bytes`, {
      hint: 'the change itself triggers the next run; nothing to do',
    });
  }
}

/** Files up to this size are read in one call and added as one buffer: no stream, no file handle kept. */
const WHOLE_FILE_BYTES = 1024 * 1024;
/** Larger files are read in chunks of this size: few hash updates and tar writes per file. */
const CHUNK_BYTES = 1024 * 1024;

type Header = Partial<tar.Header> & { name: string };

/**
 * Adds one tar entry to `pack`; with `file`, its bytes are read from disk (a large file in
 * chunks, never whole). With `sha256` (what the content tag was computed from), the bytes are
 * hashed in the same read that feeds the tar, and bytes that differ fail the entry before it
 * ends: a tag must never name other bytes than its own. A file whose size is not the header's
 * (it shrank or grew since it was listed) fails it too. The promise settles once and carries every
 * error of the file or the entry, never an uncaught exception; when the entry goes away (the tar
 * was destroyed), reading stops and the file is closed: nothing reads on after it.
 */
export async function addTarEntry(pack: tar.Pack, header: Header, file: string | undefined, signal: AbortSignal, sha256?: string): Promise<void> {
  if (!file) return entryDone(pack, header);
  const size = header.size ?? 0;
  if (size <= WHOLE_FILE_BYTES) return addWholeFile(pack, header, file, signal, sha256);
  return addFileInChunks(pack, header, file, signal, sha256);
}

function entryDone(pack: tar.Pack, header: Header, bytes?: Buffer): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (error?: Error | null) => (error ? reject(error) : resolve());
    if (bytes) pack.entry(header, bytes, done);
    else pack.entry(header, done);
  });
}

async function addWholeFile(pack: tar.Pack, header: Header, file: string, signal: AbortSignal, sha256: string | undefined): Promise<void> {
  const size = header.size ?? 0;
  // One byte more than listed is asked for: a file that grew is seen as grown, and never read whole.
  const bytes = Buffer.allocUnsafe(size + 1);
  let got = 0;
  const handle = await open(file, 'r');
  try {
    while (got < bytes.length) {
      signal.throwIfAborted();
      const { bytesRead } = await handle.read(bytes, got, bytes.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
  } finally {
    await handle.close();
  }
  const content = bytes.subarray(0, size);
  if (got !== size || (sha256 !== undefined && createHash('sha256').update(content).digest('hex') !== sha256)) throw new ChangedWhileReadError(file);
  return entryDone(pack, header, content);
}

async function addFileInChunks(pack: tar.Pack, header: Header, file: string, signal: AbortSignal, sha256: string | undefined): Promise<void> {
  const size = header.size ?? 0;
  const handle = await open(file, 'r');
  try {
    let ended: Error | undefined;
    const sink = pack.entry(header, (error) => {
      ended = error ?? undefined;
    });
    const done = new Promise<void>((resolve, reject) => {
      // The entry's own failure (the tar destroyed mid-entry, a size mismatch) lands here once.
      sink.on('error', reject);
      sink.on('close', () => (ended ? reject(ended) : resolve()));
    });
    // Awaited below; until then its rejection must not surface as an unhandled one.
    done.catch(() => undefined);
    const gone = () => ended ?? new Error('tar entry destroyed');
    try {
      const hash = sha256 === undefined ? undefined : createHash('sha256');
      for (let at = 0; at < size; ) {
        signal.throwIfAborted();
        if (sink.destroyed) throw gone();
        const chunk = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, size - at));
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, at);
        if (bytesRead === 0) throw new ChangedWhileReadError(file); // shrank
        const part = bytesRead === chunk.length ? chunk : chunk.subarray(0, bytesRead);
        hash?.update(part);
        at += bytesRead;
        if (!sink.write(part) && !(await drained(sink, signal))) throw signal.aborted ? signal.reason : gone();
      }
      // Past the end there must be nothing: a file that grew is not the file that was listed.
      const { bytesRead: beyond } = await handle.read(Buffer.allocUnsafe(1), 0, 1, size);
      if (beyond > 0 || (hash && hash.digest('hex') !== sha256)) throw new ChangedWhileReadError(file);
      signal.throwIfAborted();
      sink.end(null);
    } catch (error) {
      sink.destroy(error as Error);
      throw error;
    }
    await done;
  } finally {
    await handle.close();
  }
}

/** True once the entry takes more bytes; false when it went away or the read was cancelled meanwhile. */
function drained(events: NodeJS.EventEmitter, signal: AbortSignal): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const onDrain = () => settle(true);
    const onGone = () => settle(false);
    const settle = (ok: boolean) => {
      events.off('drain', onDrain);
      events.off('close', onGone);
      signal.removeEventListener('abort', onGone);
      resolve(ok);
    };
    events.on('drain', onDrain);
    events.on('close', onGone);
    signal.addEventListener('abort', onGone);
    if (signal.aborted) onGone();
  });
}
