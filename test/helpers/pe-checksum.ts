// The PE image checksum computed another way than scripts/release/pe.ts does (all 16-bit
// words summed first, carries folded at the end), for checking it.

/** Offset of the CheckSum field: 24 bytes past the PE signature, 64 into the optional header. */
export function peChecksumField(file: Buffer): number {
  return file.readUInt32LE(0x3c) + 24 + 64;
}

export function referenceChecksum(file: Buffer): number {
  const copy = Buffer.concat([file, Buffer.alloc(file.length % 2)]);
  copy.writeUInt32LE(0, peChecksumField(file));
  let total = 0;
  for (let i = 0; i < copy.length; i += 2) total += copy.readUInt16LE(i);
  while (total > 0xffff) total = (total % 0x10000) + Math.floor(total / 0x10000);
  return total + file.length;
}
