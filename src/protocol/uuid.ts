import { randomUUID } from 'node:crypto';

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function newUuid(): string {
  return randomUUID();
}

/**
 * Writes a UUID in the data channel's MessageId order: the RFC 4122 bytes b[0..15]
 * go on the wire as b[8..15] followed by b[0..7] (§3.2).
 */
export function writeMessageId(uuid: string, target: Buffer, offset: number): void {
  if (!UUID_TEXT.test(uuid)) throw new TypeError(`not a UUID: ${uuid}`);
  const hex = uuid.replaceAll('-', '');
  target.write(hex.slice(16, 32), offset, 8, 'hex');
  target.write(hex.slice(0, 16), offset + 8, 8, 'hex');
}

/** Reverses writeMessageId: 16 wire bytes to the lowercase hyphenated text form. */
export function readMessageId(source: Buffer, offset: number): string {
  const hex =
    source.toString('hex', offset + 8, offset + 16) + source.toString('hex', offset, offset + 8);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
