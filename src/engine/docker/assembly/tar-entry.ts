import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
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

/**
 * Adds one tar entry to `pack`; with `file`, its bytes are streamed from disk (never buffered).
 * tar-stream is built on streamx: a file is fed by plain pipe(), which both stream kinds speak.
 * With `sha256` (what the content tag was computed from), bytes that differ fail the entry: a
 * tag must never name other bytes than its own. The promise settles once, and every error of
 * the file or the entry (a size mismatch) lands in it, never as an uncaught exception; when the
 * entry goes away (the tar was destroyed), the file is closed too: nothing reads on after it.
 */
export function addTarEntry(pack: tar.Pack, header: Partial<tar.Header> & { name: string }, file: string | undefined, signal: AbortSignal, sha256?: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const sink = pack.entry(header, (error) => (error ? reject(error) : resolve()));
    if (!file) return;
    // The pack destroyed mid-entry (an upload cut by the registry) errors the entry: without a
    // listener here, pipe() would rethrow that as an uncaught exception.
    (sink as unknown as NodeJS.EventEmitter).on('error', reject);
    const source = createReadStream(file, { signal });
    const fail = (error: Error) => {
      source.destroy();
      sink.destroy(error);
      reject(error);
    };
    sink.on('error', fail);
    sink.on('close', () => source.destroy());
    source.on('error', fail);
    if (!sha256) {
      source.pipe(sink as unknown as NodeJS.WritableStream);
      return;
    }
    const hash = createHash('sha256');
    const checked = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
      flush(done) {
        done(hash.digest('hex') === sha256 ? null : new ChangedWhileReadError(file));
      },
    });
    checked.on('error', fail);
    source.pipe(checked).pipe(sink as unknown as NodeJS.WritableStream);
  });
}
