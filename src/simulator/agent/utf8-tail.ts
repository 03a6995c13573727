/**
 * Length (0..3) of an incomplete UTF-8 sequence at the end of `data`. The agent holds
 * such bytes back and prepends them to the next chunk so that no character is split
 * across frames (PROTOCOL.md §11.2).
 */
export function incompleteUtf8TailLength(data: Buffer): number {
  const lookBack = Math.min(3, data.length);
  for (let back = 1; back <= lookBack; back++) {
    const byte = data[data.length - back] ?? 0;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    return sequenceLength(byte) > back ? back : 0;
  }
  return 0;
}

/** Bytes in the sequence started by `lead`; 1 for ASCII and for invalid leads. */
function sequenceLength(lead: number): number {
  if (lead >= 0xc0 && lead < 0xe0) return 2;
  if (lead >= 0xe0 && lead < 0xf0) return 3;
  if (lead >= 0xf0 && lead < 0xf8) return 4;
  return 1;
}
