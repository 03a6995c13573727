import { randomFillSync, randomUUID } from 'node:crypto';

export function newUuid(): string {
  return randomUUID();
}

/** Hex digit values by character code; -1 for anything else. */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let digit = 0; digit < 16; digit++) {
  HEX_VALUE['0123456789abcdef'.charCodeAt(digit)] = digit;
  HEX_VALUE['0123456789ABCDEF'.charCodeAt(digit)] = digit;
}

function hexValue(text: string, index: number): number {
  const code = text.charCodeAt(index);
  return code < 128 ? HEX_VALUE[code]! : -1;
}

/**
 * Writes a UUID in the data channel's MessageId order: the RFC 4122 bytes b[0..15]
 * go on the wire as b[8..15] followed by b[0..7] (§3.2). Parsed by hand: this runs for
 * every frame sent.
 */
export function writeMessageId(uuid: string, target: Buffer, offset: number): void {
  if (uuid.length !== 36 || uuid[8] !== '-' || uuid[13] !== '-' || uuid[18] !== '-' || uuid[23] !== '-') {
    throw new TypeError(`not a UUID: ${uuid}`);
  }
  let byte = 0;
  for (let i = 0; i < 36; i += 2) {
    if (i === 8 || i === 13 || i === 18 || i === 23) i++;
    const high = hexValue(uuid, i);
    const low = hexValue(uuid, i + 1);
    if ((high | low) < 0) throw new TypeError(`not a UUID: ${uuid}`);
    target[offset + (byte < 8 ? byte + 8 : byte - 8)] = (high << 4) | low;
    byte++;
  }
}

/** Random bytes for message ids, refilled 256 ids at a time (one syscall instead of 256). */
const randomPool = Buffer.allocUnsafeSlow(16 * 256);
let randomOffset = randomPool.length;

/**
 * Writes a fresh random (version 4) UUID in MessageId order, without making its text
 * form: frames we send never need it again.
 */
export function writeRandomMessageId(target: Buffer, offset: number): void {
  if (randomOffset + 16 > randomPool.length) {
    randomFillSync(randomPool);
    randomOffset = 0;
  }
  const o = randomOffset;
  randomOffset += 16;
  randomPool[o + 6] = (randomPool[o + 6]! & 0x0f) | 0x40; // version 4
  randomPool[o + 8] = (randomPool[o + 8]! & 0x3f) | 0x80; // RFC 4122 variant
  // Byte by byte: two Buffer.copy calls (native, with argument checks) cost more.
  for (let i = 0; i < 8; i++) {
    target[offset + i] = randomPool[o + 8 + i]!;
    target[offset + 8 + i] = randomPool[o + i]!;
  }
}

/** Reverses writeMessageId: 16 wire bytes to the lowercase hyphenated text form. */
export function readMessageId(source: Buffer, offset: number): string {
  // Wire order is b[8..15] b[0..7]; one hex conversion, then the text order.
  const hex = source.toString('hex', offset, offset + 16);
  return `${hex.slice(16, 24)}-${hex.slice(24, 28)}-${hex.slice(28, 32)}-${hex.slice(0, 4)}-${hex.slice(4, 16)}`;
}
