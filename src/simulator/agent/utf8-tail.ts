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
 * The same split without walking every byte. Every byte that is not a continuation byte
 * (80..BF) starts a rune of the walk: a valid rune's other bytes are all continuation
 * bytes, and a RuneError of an invalid byte is one byte long. So the walk is taken up at
 * the last such byte at least 4 bytes from the end, and only the tail is walked to find
 * where it stops. Before that point an invalid byte goes out as it is; only a real U+FFFD
 * (always a rune of the walk: EF starts one) loses its other two bytes, found natively.
 */
export function splitAgentUtf8(data: Buffer): Utf8Split {
  const length = data.length;
  let i = Math.max(0, length - UTF_MAX);
  while (i > 0 && ((data[i] as number) & 0xc0) === 0x80) i--;
  while (i < length) {
    const { size, error } = decodeRune(data, i);
    if (error && length - i < UTF_MAX) break;
    i += size;
  }
  const hold = i === length ? EMPTY : Buffer.from(data.subarray(i));
  // U+FFFD starting at least 4 bytes from the end (so before the stop).
  const searched = data.subarray(0, Math.max(0, length - 1));
  let at = searched.indexOf(REPLACEMENT);
  if (at < 0) return { send: data.subarray(0, i), hold };
  const parts: Buffer[] = [];
  let runStart = 0;
  for (; at >= 0; at = searched.indexOf(REPLACEMENT, at + REPLACEMENT.length)) {
    parts.push(data.subarray(runStart, at + 1));
    runStart = at + REPLACEMENT.length;
  }
  parts.push(data.subarray(runStart, i));
  return { send: Buffer.concat(parts), hold };
}
