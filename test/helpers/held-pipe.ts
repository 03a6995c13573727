// A named pipe that a test reads at its own pace, to the byte: a reader that lags exactly
// where the test wants (a process's stdout reader that is behind when the process ends).
// POSIX only (mkfifo).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

export interface HeldPipe {
  /** The writing end, to give a child as its stdout; close it here with closeWriter() once given. */
  readonly writeFd: number;
  /** How many bytes the pipe holds unread before a writer has to wait. */
  readonly capacity: number;
  closeWriter(): void;
  /** Reads exactly `bytes` (fewer only at the end of the data), nothing beyond. */
  read(bytes: number): Promise<Buffer>;
  /** Reads until every writer has closed the pipe. */
  readToEnd(): Promise<Buffer>;
  close(): Promise<void>;
}

const READ_SIZE = 64 * 1024;

export interface PipedRun {
  child: ChildProcess;
  /** Its exit status, once it has exited and its stdio closed. */
  exit: Promise<number | null>;
  exited(): boolean;
  /** What it wrote to stderr so far. */
  stderr(): string;
}

/**
 * Runs `command` with its stdout into `pipe` (whose writing end is then closed here, so
 * the child holds the only one), an ended stdin and stderr collected; killed at teardown.
 */
export function runIntoPipe(
  pipe: HeldPipe,
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  teardown: (fn: () => void) => void,
): PipedRun {
  const child = spawn(command, args, { env, stdio: ['pipe', pipe.writeFd, 'pipe'] });
  pipe.closeWriter();
  teardown(() => void child.kill('SIGKILL'));
  child.stdin!.end();
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  let exited = false;
  const exit = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  void exit.then(() => (exited = true));
  return { child, exit, exited: () => exited, stderr: () => stderr };
}

export async function openHeldPipe(dir: string, name = 'held.fifo'): Promise<HeldPipe> {
  const file = path.join(dir, name);
  execFileSync('mkfifo', [file]);
  // Opening either end waits for the other: both at once, on the thread pool. The reads
  // are blocking reads there too, so each takes what is asked and no more.
  const [reader, writer] = await Promise.all([open(file, 'r'), open(file, 'w')]);
  const capacity = await measureCapacity(file, reader);
  let writerOpen = true;
  const read = async (bytes: number): Promise<Buffer> => {
    const data = Buffer.alloc(bytes);
    let filled = 0;
    while (filled < bytes) {
      const { bytesRead } = await reader.read(data, filled, Math.min(READ_SIZE, bytes - filled), null);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return data.subarray(0, filled);
  };
  return {
    writeFd: writer.fd,
    capacity,
    closeWriter: () => {
      if (!writerOpen) return;
      writerOpen = false;
      void writer.close();
    },
    read,
    readToEnd: async () => {
      const chunks: Buffer[] = [];
      for (;;) {
        const chunk = await read(READ_SIZE);
        if (chunk.length === 0) return Buffer.concat(chunks);
        chunks.push(chunk);
      }
    },
    close: async () => {
      if (writerOpen) await writer.close();
      writerOpen = false;
      await reader.close();
    },
  };
}

/** Fills the empty pipe through a non-blocking writer until it refuses a byte, then empties it. */
async function measureCapacity(file: string, reader: FileHandle): Promise<number> {
  const probe = openSync(file, constants.O_WRONLY | constants.O_NONBLOCK);
  let capacity = 0;
  try {
    for (const size of [4096, 1]) {
      const chunk = Buffer.alloc(size);
      for (;;) {
        try {
          capacity += writeSync(probe, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(probe);
  }
  const scratch = Buffer.alloc(READ_SIZE);
  for (let left = capacity; left > 0; ) {
    const { bytesRead } = await reader.read(scratch, 0, Math.min(scratch.length, left), null);
    if (bytesRead === 0) throw new Error(`the pipe ended while emptying it (${left} of ${capacity} bytes left)`);
    left -= bytesRead;
  }
  return capacity;
}
