import { openSync, writeSync, closeSync } from 'node:fs';

/** Debug logging, off unless the user asks for it. Never pass secrets to it. */
export interface Logger {
  readonly enabled: boolean;
  debug(message: string): void;
  close(): void;
}

export const silentLogger: Logger = {
  enabled: false,
  debug() {},
  close() {},
};

/** A logger appending to `path`, created with owner-only permissions (0600). */
export function fileLogger(path: string, name = 'plugin'): Logger {
  const fd = openSync(path, 'a', 0o600);
  let open = true;
  return {
    enabled: true,
    debug(message: string) {
      if (!open) return;
      writeSync(fd, `${new Date().toISOString()} ${name} ${message}\n`);
    },
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}
