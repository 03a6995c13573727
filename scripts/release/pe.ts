// PE32+ (the Windows x64 Node binary) as far as the release needs it: remove the Authenticode
// signature before the SEA resource goes in (injection invalidates it, and a stale
// certificate table would then point into the new section), and set the image checksum
// afterwards. Layout: Microsoft's PE format specification.

const PE32_PLUS = 0x20b;
const SECURITY_DIRECTORY = 4;

export class PeError extends Error {
  override readonly name = 'PeError';
}

interface Headers {
  optionalHeader: number;
  checksumField: number;
  securityEntry: number;
}

function headers(file: Buffer): Headers {
  if (file.length < 0x40 || file.toString('latin1', 0, 2) !== 'MZ') throw new PeError('not a PE file (no MZ header)');
  const pe = file.readUInt32LE(0x3c);
  if (pe + 24 > file.length || file.toString('latin1', pe, pe + 4) !== 'PE\0\0') throw new PeError('not a PE file (no PE signature)');
  const optionalHeader = pe + 24;
  if (file.readUInt16LE(optionalHeader) !== PE32_PLUS) throw new PeError('not a PE32+ (64-bit) image');
  const directories = file.readUInt32LE(optionalHeader + 108);
  if (directories <= SECURITY_DIRECTORY) throw new PeError('no security data directory');
  return { optionalHeader, checksumField: optionalHeader + 64, securityEntry: optionalHeader + 112 + 8 * SECURITY_DIRECTORY };
}

/** The certificate table: file offset and size (0, 0 when unsigned). */
export function certificateTable(file: Buffer): { offset: number; size: number } {
  const { securityEntry } = headers(file);
  return { offset: file.readUInt32LE(securityEntry), size: file.readUInt32LE(securityEntry + 4) };
}

/** The file without its certificate table (which must be the file's last bytes, as signing tools put it). */
export function removeCertificates(input: Buffer): Buffer {
  const { securityEntry } = headers(input);
  const { offset, size } = certificateTable(input);
  if (size === 0) return input;
  if (offset + size !== input.length) throw new PeError('the certificate table is not at the end of the file');
  const out = Buffer.from(input.subarray(0, offset));
  out.writeUInt32LE(0, securityEntry);
  out.writeUInt32LE(0, securityEntry + 4);
  return out;
}

/** The image checksum (the algorithm of imagehlp's CheckSumMappedFile). */
export function imageChecksum(file: Buffer): number {
  const { checksumField } = headers(file);
  let sum = 0;
  for (let offset = 0; offset < file.length; offset += 2) {
    if (offset === checksumField || offset === checksumField + 2) continue;
    sum += offset + 1 < file.length ? file.readUInt16LE(offset) : file[offset]!;
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum + file.length) >>> 0;
}

/** Writes the image checksum into the optional header, in place. */
export function setImageChecksum(file: Buffer): void {
  file.writeUInt32LE(imageChecksum(file), headers(file).checksumField);
}
