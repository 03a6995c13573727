/** The local streams a session works with; real stdio in the CLI, fakes in tests. */
export interface SessionIO {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown; fd?: number };
  stdout: NodeJS.WritableStream & {
    isTTY?: boolean;
    columns?: number;
    rows?: number;
    /** Asks the terminal for its size now (a tty.WriteStream has it). */
    getWindowSize?: () => [number, number];
    on(event: 'resize', listener: () => void): unknown;
  };
  stderr: NodeJS.WritableStream;
}

export function processIO(): SessionIO {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
}
