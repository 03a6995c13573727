// An independent reader of Mach-O embedded code signatures, for checking what
// scripts/release/macho.ts signs without trusting its code: it walks the load commands
// itself, finds the SuperBlob and its CodeDirectory (layouts from Apple's cs_blobs.h and
// loader.h) and recomputes the SHA-256 of every code page.
import { createHash } from 'node:crypto';

export interface SignatureCheck {
  /** Problems found; empty when the signature holds. */
  problems: string[];
  cpu: number;
  segments: Array<{ name: string; fileoff: number; filesize: number; vmsize: bigint }>;
  /** Sections per segment, e.g. NODE_SEA: [{ name: '__NODE_SEA_BLOB', offset, size }]. */
  sections: Record<string, Array<{ name: string; offset: number; size: number }>>;
  identifier?: string;
  flags?: number;
  version?: number;
  codeSlots?: number;
  /** Pages whose hash matched, out of codeSlots. */
  pagesMatching?: number;
  slots?: number[];
}

const u32le = (b: Buffer, o: number) => b.readUInt32LE(o);
const u32be = (b: Buffer, o: number) => b.readUInt32BE(o);

/** Reads and checks the signature; a file too short for what it says is one more problem. */
export function checkSignature(file: Buffer): SignatureCheck {
  const result: SignatureCheck = { problems: [], cpu: file.length >= 8 ? u32le(file, 4) : 0, segments: [], sections: {} };
  try {
    check(file, result);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    result.problems.push(`truncated or malformed: ${err.message}`);
  }
  return result;
}

function check(file: Buffer, result: SignatureCheck): void {
  const { problems } = result;
  if (u32le(file, 0) !== 0xfeedfacf) {
    problems.push('bad Mach-O magic');
    return;
  }
  const commandCount = u32le(file, 16);
  let cursor = 32;
  let signatureAt = -1;
  let signatureSize = 0;
  for (let n = 0; n < commandCount; n++) {
    const kind = u32le(file, cursor);
    const length = u32le(file, cursor + 4);
    if (kind === 0x19) {
      const name = file.toString('latin1', cursor + 8, cursor + 24).replace(/\0+$/, '');
      result.segments.push({
        name,
        vmsize: file.readBigUInt64LE(cursor + 32),
        fileoff: Number(file.readBigUInt64LE(cursor + 40)),
        filesize: Number(file.readBigUInt64LE(cursor + 48)),
      });
      const sectionCount = u32le(file, cursor + 64);
      result.sections[name] = [];
      for (let s = 0; s < sectionCount; s++) {
        const at = cursor + 72 + 80 * s;
        result.sections[name].push({
          name: file.toString('latin1', at, at + 16).replace(/\0+$/, ''),
          size: Number(file.readBigUInt64LE(at + 40)),
          offset: u32le(file, at + 48),
        });
      }
    }
    if (kind === 0x1d) {
      signatureAt = u32le(file, cursor + 8);
      signatureSize = u32le(file, cursor + 12);
    }
    cursor += length;
  }
  if (signatureAt < 0) {
    problems.push('no LC_CODE_SIGNATURE');
    return;
  }
  const linkedit = result.segments.find((s) => s.name === '__LINKEDIT');
  if (!linkedit) problems.push('no __LINKEDIT');
  else {
    if (linkedit.fileoff + linkedit.filesize !== file.length) problems.push('__LINKEDIT does not end at the end of the file');
    if (signatureAt < linkedit.fileoff || signatureAt + signatureSize > file.length) problems.push('the signature is outside __LINKEDIT');
    if (BigInt(linkedit.filesize) > linkedit.vmsize) problems.push('__LINKEDIT vmsize is smaller than its filesize');
  }
  if (signatureAt + signatureSize !== file.length) problems.push('the file does not end with the signature');
  if (signatureAt % 16 !== 0) problems.push('the signature is not 16-byte aligned');

  const superBlob = file.subarray(signatureAt, signatureAt + signatureSize);
  if (u32be(superBlob, 0) !== 0xfade0cc0) {
    problems.push('no embedded-signature SuperBlob');
    return;
  }
  if (u32be(superBlob, 4) > signatureSize) problems.push('the SuperBlob is longer than LC_CODE_SIGNATURE says');
  const blobCount = u32be(superBlob, 8);
  const blobs = new Map<number, Buffer>();
  for (let n = 0; n < blobCount; n++) {
    const slot = u32be(superBlob, 12 + 8 * n);
    const offset = u32be(superBlob, 16 + 8 * n);
    blobs.set(slot, superBlob.subarray(offset, offset + u32be(superBlob, offset + 4)));
  }
  result.slots = [...blobs.keys()];
  const directory = blobs.get(0);
  if (!directory || u32be(directory, 0) !== 0xfade0c02) {
    problems.push('no CodeDirectory in slot 0');
    return;
  }
  result.version = u32be(directory, 8);
  result.flags = u32be(directory, 12);
  const hashOffset = u32be(directory, 16);
  const identOffset = u32be(directory, 20);
  const specialSlots = u32be(directory, 24);
  const codeSlots = u32be(directory, 28);
  const codeLimit = u32be(directory, 32);
  const [hashSize, hashType, , pageShift] = [directory[36]!, directory[37]!, directory[38]!, directory[39]!];
  result.codeSlots = codeSlots;
  result.identifier = directory.toString('utf8', identOffset, directory.indexOf(0, identOffset));
  if (hashType !== 2 || hashSize !== 32) problems.push(`hash type ${hashType}/${hashSize} is not SHA-256`);
  if (pageShift !== 12) problems.push(`page size 2^${pageShift}, not 4096`);
  if (codeLimit !== signatureAt) problems.push(`codeLimit ${codeLimit} is not where the signature starts (${signatureAt})`);
  if (codeSlots !== Math.ceil(codeLimit / 4096)) problems.push(`${codeSlots} code slots for ${codeLimit} bytes`);
  if (hashOffset + codeSlots * 32 > directory.length) problems.push('the hashes run past the CodeDirectory');

  let matching = 0;
  for (let page = 0; page < codeSlots; page++) {
    const data = file.subarray(page * 4096, Math.min((page + 1) * 4096, codeLimit));
    const stored = directory.subarray(hashOffset + 32 * page, hashOffset + 32 * (page + 1));
    if (createHash('sha256').update(data).digest().equals(stored)) matching++;
  }
  result.pagesMatching = matching;
  if (matching !== codeSlots) problems.push(`${codeSlots - matching} of ${codeSlots} page hashes do not match`);

  const requirements = blobs.get(2);
  if (requirements && specialSlots >= 2) {
    const stored = directory.subarray(hashOffset - 2 * 32, hashOffset - 32);
    if (!createHash('sha256').update(requirements).digest().equals(stored)) problems.push('the requirements hash does not match');
  }
}
