import { isUtf8 } from 'node:buffer';

/**
 * The agent's UTF-8 hold-back for shell and command output (agent/session/shell/shell.go,
 * processStdoutData): the bytes held from the last read and the new ones are decoded rune
 * by rune as Go's utf8.DecodeRune does. Whatever decodes as RuneError (an invalid or
 * incomplete sequence, or a real U+FFFD) within the last 3 bytes stops the walk: it and
 * everything after it is held for the next read. A RuneError further back is sent as its
 * first byte only (the walk then skips the rune's length, so a real U+FFFD loses its
 * other two bytes). The caller drops what is still held when the source ends, as the
 * agent's read loops do.
 */
export interface Utf8Split {
  send: Buffer;
  hold: Buffer;
}

const UTF_MAX = 4;

/** Go's utf8.DecodeRune: the length of the rune at `i`, and whether it is RuneError. */
function decodeRune(data: Buffer, i: number): { size: number; error: boolean } {
  const b0 = data[i] as number;
  if (b0 < 0x80) return { size: 1, error: false };
  const at = (k: number): number => data[i + k] ?? -1;
  const cont = (k: number, low = 0x80, high = 0xbf): boolean => at(k) >= low && at(k) <= high;
  let size = 0;
  if (b0 >= 0xc2 && b0 <= 0xdf) size = cont(1) ? 2 : 0;
  else if (b0 >= 0xe0 && b0 <= 0xef) {
    const low = b0 === 0xe0 ? 0xa0 : 0x80;
    const high = b0 === 0xed ? 0x9f : 0xbf;
    size = cont(1, low, high) && cont(2) ? 3 : 0;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    const low = b0 === 0xf0 ? 0x90 : 0x80;
    const high = b0 === 0xf4 ? 0x8f : 0xbf;
    size = cont(1, low, high) && cont(2) && cont(3) ? 4 : 0;
  }
  if (size === 0) return { size: 1, error: true };
  // A well-formed U+FFFD (EF BF BD) is RuneError to Go as well.
  const replacement = size === 3 && b0 === 0xef && at(1) === 0xbf && at(2) === 0xbd;
  return { size, error: replacement };
}

const REPLACEMENT = Buffer.from([0xef, 0xbf, 0xbd]);
const EMPTY = Buffer.alloc(0);

/**
 * Where the walk may start: the start of the last sequence (at most 3 continuation bytes
 * back from the end) when everything before it is valid UTF-8 without U+FFFD. The rune
 * walk over such a prefix finds no RuneError and ends exactly at its end, so starting
 * there gives the same result, with a native check instead of a walk over every byte.
 */
function walkStart(data: Buffer): number {
  let start = data.length;
  while (start > 0 && data.length - start < UTF_MAX - 1 && ((data[start - 1] as number) & 0xc0) === 0x80) start--;
  if (start > 0) start--;
  const prefix = data.subarray(0, start);
  return isUtf8(prefix) && prefix.indexOf(REPLACEMENT) === -1 ? start : 0;
}

export function splitAgentUtf8(data: Buffer): Utf8Split {
  const parts: Buffer[] = [];
  let runStart = 0;
  let i = walkStart(data);
  while (i < data.length) {
    const { size, error } = decodeRune(data, i);
    if (error) {
      if (data.length - i < UTF_MAX) break;
      parts.push(data.subarray(runStart, i + 1));
      runStart = i + size;
    }
    i += size;
  }
  parts.push(data.subarray(runStart, i));
  const hold = i === data.length ? EMPTY : Buffer.from(data.subarray(i));
  return { send: parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts), hold };
}
