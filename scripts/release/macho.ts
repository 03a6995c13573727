// Mach-O (64-bit little-endian executables: the x86_64 and arm64 Node binaries) as far as the
// release needs it: remove the existing code signature, drop the symbol table's debugging
// and local entries, and add an ad-hoc signature after the SEA blob is in. The layouts are
// Apple's published ones (mach-o/loader.h, mach-o/nlist.h; the code signature format from
// xnu's osfmk/kern/cs_blobs.h).
import { createHash } from 'node:crypto';

const MH_MAGIC_64 = 0xfeedfacf;
const MH_EXECUTE = 0x2;
const CPU_TYPE_X86_64 = 0x01000007;
const CPU_TYPE_ARM64 = 0x0100000c;

const LC_SYMTAB = 0x2;
const LC_DYSYMTAB = 0xb;
const LC_SEGMENT_64 = 0x19;
const LC_CODE_SIGNATURE = 0x1d;
const LC_DYLD_INFO = 0x22;
const LC_DYLD_INFO_ONLY = 0x80000022;
/** Commands shaped as linkedit_data_command { cmd, cmdsize, dataoff, datasize }. */
const LINKEDIT_DATA_COMMANDS = new Set([
  LC_CODE_SIGNATURE,
  0x1e, // LC_SEGMENT_SPLIT_INFO
  0x26, // LC_FUNCTION_STARTS
  0x29, // LC_DATA_IN_CODE
  0x2b, // LC_DYLIB_CODE_SIGN_DRS
  0x2e, // LC_LINKER_OPTIMIZATION_HINT
  0x36, // LC_ATOM_INFO
  0x80000033, // LC_DYLD_EXPORTS_TRIE
  0x80000034, // LC_DYLD_CHAINED_FIXUPS
]);
/** Commands that point at nothing in the file outside the header and __TEXT. */
const SELF_CONTAINED_COMMANDS = new Set([
  0xc, // LC_LOAD_DYLIB
  0xd, // LC_ID_DYLIB
  0xe, // LC_LOAD_DYLINKER
  0x18, // LC_LOAD_WEAK_DYLIB (without LC_REQ_DYLD)
  0x80000018, // LC_LOAD_WEAK_DYLIB
  0x1b, // LC_UUID
  0x8000001c, // LC_RPATH
  0x8000001f, // LC_REEXPORT_DYLIB
  0x24, // LC_VERSION_MIN_MACOSX
  0x2a, // LC_SOURCE_VERSION
  0x80000028, // LC_MAIN (entryoff is within __TEXT)
  0x2c, // LC_ENCRYPTION_INFO_64 (cryptoff is within __TEXT)
  0x32, // LC_BUILD_VERSION
]);

const N_STAB = 0xe0;
const REFERENCED_DYNAMICALLY = 0x10;
const INDIRECT_SYMBOL_LOCAL = 0x80000000;
const INDIRECT_SYMBOL_ABS = 0x40000000;
const NLIST_SIZE = 16;

// Code signing (cs_blobs.h); these blobs are big-endian.
const CSMAGIC_EMBEDDED_SIGNATURE = 0xfade0cc0;
const CSMAGIC_CODEDIRECTORY = 0xfade0c02;
const CSMAGIC_REQUIREMENTS = 0xfade0c01;
const CSMAGIC_BLOBWRAPPER = 0xfade0b01;
const CSSLOT_CODEDIRECTORY = 0;
const CSSLOT_REQUIREMENTS = 2;
const CSSLOT_SIGNATURESLOT = 0x10000;
const CS_SUPPORTSEXECSEG = 0x20400;
const CS_ADHOC = 0x2;
const CS_HASHTYPE_SHA256 = 2;
const CS_EXECSEG_MAIN_BINARY = 0x1;
const CODE_DIRECTORY_HEADER_SIZE = 88; // through execSegFlags (version 0x20400)
const PAGE_SHIFT = 12; // 4 KiB pages are hashed, whatever the VM page size
const PAGE_SIZE = 1 << PAGE_SHIFT;
const SHA256_SIZE = 32;
const SPECIAL_SLOTS = 2; // info.plist (empty) and requirements

/** A Mach-O the release cannot rewrite safely: says what and where. */
export class MachOError extends Error {
  override readonly name = 'MachOError';
}

export interface Segment {
  name: string;
  /** Offset of the LC_SEGMENT_64 command in the file. */
  commandOffset: number;
  vmaddr: bigint;
  vmsize: bigint;
  fileoff: number;
  filesize: number;
}

export interface LoadCommand {
  cmd: number;
  offset: number;
  size: number;
}

export interface MachO {
  cpu: 'x86_64' | 'arm64';
  commands: LoadCommand[];
  segments: Segment[];
  /** End of the load commands. */
  commandsEnd: number;
  /** Where the first section's data starts: the room the load commands may grow into. */
  firstSectionOffset: number;
}

export function parseMachO(file: Buffer): MachO {
  if (file.length < 32 || file.readUInt32LE(0) !== MH_MAGIC_64) throw new MachOError('not a 64-bit little-endian Mach-O file');
  const cputype = file.readUInt32LE(4);
  if (cputype !== CPU_TYPE_X86_64 && cputype !== CPU_TYPE_ARM64) throw new MachOError(`unsupported CPU type 0x${cputype.toString(16)}`);
  if (file.readUInt32LE(12) !== MH_EXECUTE) throw new MachOError('not an executable (MH_EXECUTE)');
  const ncmds = file.readUInt32LE(16);
  const sizeofcmds = file.readUInt32LE(20);
  const commands: LoadCommand[] = [];
  const segments: Segment[] = [];
  let firstSectionOffset = file.length;
  let offset = 32;
  for (let i = 0; i < ncmds; i++) {
    const cmd = file.readUInt32LE(offset);
    const size = file.readUInt32LE(offset + 4);
    if (size < 8 || offset + size > 32 + sizeofcmds) throw new MachOError(`load command ${i} runs past the header`);
    commands.push({ cmd, offset, size });
    if (cmd === LC_SEGMENT_64) {
      segments.push({
        name: cString(file, offset + 8, 16),
        commandOffset: offset,
        vmaddr: file.readBigUInt64LE(offset + 24),
        vmsize: file.readBigUInt64LE(offset + 32),
        fileoff: Number(file.readBigUInt64LE(offset + 40)),
        filesize: Number(file.readBigUInt64LE(offset + 48)),
      });
      const nsects = file.readUInt32LE(offset + 64);
      for (let s = 0; s < nsects; s++) {
        const section = offset + 72 + s * 80;
        const sectionOffset = file.readUInt32LE(section + 48);
        const type = file.readUInt32LE(section + 64) & 0xff;
        const zeroFill = type === 0x1 || type === 0xc || type === 0x12; // S_ZEROFILL, S_GB_ZEROFILL, S_THREAD_LOCAL_ZEROFILL
        if (!zeroFill && sectionOffset > 0) firstSectionOffset = Math.min(firstSectionOffset, sectionOffset);
      }
    }
    offset += size;
  }
  return { cpu: cputype === CPU_TYPE_ARM64 ? 'arm64' : 'x86_64', commands, segments, commandsEnd: offset, firstSectionOffset };
}

export function segmentNamed(macho: MachO, name: string): Segment | undefined {
  return macho.segments.find((segment) => segment.name === name);
}

function linkeditOf(macho: MachO): Segment {
  const linkedit = segmentNamed(macho, '__LINKEDIT');
  if (!linkedit) throw new MachOError('no __LINKEDIT segment');
  const last = macho.segments.reduce((a, b) => (b.fileoff > a.fileoff ? b : a));
  if (last !== linkedit) throw new MachOError('__LINKEDIT is not the last segment');
  return linkedit;
}

/** A run of __LINKEDIT data and the load-command fields that locate it. */
interface Piece {
  offset: number;
  size: number;
  /** Where the new offset is written (a 32-bit field in a load command). */
  offsetField: number;
  /** New content, when it changes (the symbol and string tables when stripping). */
  replacement?: Buffer;
  drop?: boolean;
}

/**
 * Every piece of __LINKEDIT, from the load commands that point into it. Throws on a command
 * this code does not know, rather than leave a stale offset behind.
 */
function linkeditPieces(file: Buffer, macho: MachO): { pieces: Piece[]; symtab?: number; dysymtab?: number } {
  const pieces: Piece[] = [];
  let symtab: number | undefined;
  let dysymtab: number | undefined;
  const add = (offsetField: number, sizeField: number, sizeMultiplier = 1) => {
    const size = file.readUInt32LE(sizeField) * sizeMultiplier;
    pieces.push({ offset: file.readUInt32LE(offsetField), size, offsetField });
  };
  for (const { cmd, offset } of macho.commands) {
    if (LINKEDIT_DATA_COMMANDS.has(cmd)) add(offset + 8, offset + 12);
    else if (cmd === LC_SYMTAB) {
      symtab = offset;
      add(offset + 8, offset + 12, NLIST_SIZE);
      add(offset + 16, offset + 20);
    } else if (cmd === LC_DYSYMTAB) {
      dysymtab = offset;
      // tocoff/ntoc, modtaboff/nmodtab, extrefsymoff/nextrefsyms, indirectsymoff/nindirectsyms,
      // extreloff/nextrel, locreloff/nlocrel: entry sizes 8, 56, 4, 4, 8, 8.
      const tables: Array<[number, number]> = [
        [32, 8],
        [40, 56],
        [48, 4],
        [56, 4],
        [64, 8],
        [72, 8],
      ];
      for (const [field, entrySize] of tables) {
        if (file.readUInt32LE(offset + field + 4) > 0 || file.readUInt32LE(offset + field) > 0) add(offset + field, offset + field + 4, entrySize);
      }
    } else if (cmd === LC_DYLD_INFO || cmd === LC_DYLD_INFO_ONLY) {
      for (let field = 8; field < 48; field += 8) add(offset + field, offset + field + 4);
    } else if (cmd !== LC_SEGMENT_64 && !SELF_CONTAINED_COMMANDS.has(cmd)) {
      throw new MachOError(`unknown load command 0x${cmd.toString(16)}: cannot tell whether it points into __LINKEDIT`);
    }
  }
  return { pieces, ...(symtab === undefined ? {} : { symtab }), ...(dysymtab === undefined ? {} : { dysymtab }) };
}

/**
 * Lays __LINKEDIT out again from its pieces, in their order, 8-byte aligned, without gaps:
 * pieces marked `drop` go (their command too, when it is LC_CODE_SIGNATURE), replaced ones
 * take their new size. Returns the new file, ending with __LINKEDIT.
 */
function relayoutLinkedit(file: Buffer, macho: MachO, pieces: Piece[]): Buffer {
  const linkedit = linkeditOf(macho);
  const header = Buffer.from(file.subarray(0, linkedit.fileoff));
  const parts: Buffer[] = [];
  let position = linkedit.fileoff;
  const sorted = [...pieces].sort((a, b) => a.offset - b.offset || a.size - b.size);
  let previousEnd = linkedit.fileoff;
  for (const piece of sorted) {
    if (piece.size > 0 && (piece.offset < previousEnd || piece.offset + piece.size > linkedit.fileoff + linkedit.filesize)) {
      throw new MachOError(`__LINKEDIT data at ${piece.offset} (+${piece.size}) overlaps another or lies outside the segment`);
    }
    if (piece.size > 0) previousEnd = piece.offset + piece.size;
    if (piece.drop) continue;
    const content = piece.replacement ?? file.subarray(piece.offset, piece.offset + piece.size);
    const padding = (8 - ((position - linkedit.fileoff) % 8)) % 8;
    if (padding && content.length > 0) {
      parts.push(Buffer.alloc(padding));
      position += padding;
    }
    header.writeUInt32LE(position, piece.offsetField);
    parts.push(content);
    position += content.length;
  }
  const tail = Buffer.concat(parts);
  const out = Buffer.concat([header, tail]);
  setSegmentFileSize(out, macho, linkedit, position - linkedit.fileoff);
  return out;
}

function setSegmentFileSize(file: Buffer, macho: MachO, segment: Segment, filesize: number): void {
  const pageSize = macho.cpu === 'arm64' ? 0x4000 : 0x1000;
  file.writeBigUInt64LE(BigInt(filesize), segment.commandOffset + 48);
  file.writeBigUInt64LE(BigInt(Math.ceil(filesize / pageSize) * pageSize), segment.commandOffset + 32);
}

/** Removes one load command from the header, moving the ones after it up. */
function removeCommand(file: Buffer, macho: MachO, command: LoadCommand): void {
  file.copy(file, command.offset, command.offset + command.size, macho.commandsEnd);
  file.fill(0, macho.commandsEnd - command.size, macho.commandsEnd);
  file.writeUInt32LE(file.readUInt32LE(16) - 1, 16);
  file.writeUInt32LE(file.readUInt32LE(20) - command.size, 20);
}

/** The file without its code signature (LC_CODE_SIGNATURE and the data it points at). */
export function removeSignature(input: Buffer): Buffer {
  const macho = parseMachO(input);
  const command = macho.commands.find((c) => c.cmd === LC_CODE_SIGNATURE);
  if (!command) return input;
  const { pieces } = linkeditPieces(input, macho);
  for (const piece of pieces) if (piece.offsetField === command.offset + 8) piece.drop = true;
  const out = relayoutLinkedit(input, macho, pieces);
  removeCommand(out, macho, command);
  return out;
}

/**
 * Drops the symbols nothing needs at run time: debugging (stab) entries and local and
 * exported definitions. Kept: undefined symbols (imports), those the indirect symbol table
 * names, and those marked REFERENCED_DYNAMICALLY (`__mh_execute_header`). dyld finds exports
 * through the exports trie, not the symbol table; only crash reports lose names, as with
 * Apple's `strip`. Must run on an unsigned file.
 */
export function stripSymbols(input: Buffer): Buffer {
  const macho = parseMachO(input);
  if (macho.commands.some((c) => c.cmd === LC_CODE_SIGNATURE)) throw new MachOError('remove the code signature before stripping');
  const { pieces, symtab, dysymtab } = linkeditPieces(input, macho);
  if (symtab === undefined || dysymtab === undefined) return input;
  const symoff = input.readUInt32LE(symtab + 8);
  const nsyms = input.readUInt32LE(symtab + 12);
  const stroff = input.readUInt32LE(symtab + 16);
  const strsize = input.readUInt32LE(symtab + 20);
  const dys = (index: number) => input.readUInt32LE(dysymtab + 8 + 4 * index);
  const [ilocal, nlocal, iextdef, nextdef, iundef, nundef] = [0, 1, 2, 3, 4, 5].map(dys) as [number, number, number, number, number, number];
  if (ilocal !== 0 || iextdef !== nlocal || iundef !== iextdef + nextdef || iundef + nundef !== nsyms) {
    throw new MachOError('the symbol table is not in locals, definitions, imports order');
  }
  if (dys(15) > 0 || dys(17) > 0) throw new MachOError('relocation entries name symbols: not stripping');
  const indirectOffset = dys(12);
  const indirectCount = dys(13);
  const indirect = Array.from({ length: indirectCount }, (_, i) => input.readUInt32LE(indirectOffset + 4 * i));

  const keep = new Uint8Array(nsyms);
  for (let i = iundef; i < nsyms; i++) keep[i] = 1;
  for (const index of indirect) if ((index & (INDIRECT_SYMBOL_LOCAL | INDIRECT_SYMBOL_ABS)) === 0 && index < nsyms) keep[index] = 1;
  for (let i = 0; i < iundef; i++) {
    const entry = symoff + i * NLIST_SIZE;
    const type = input[entry + 4]!;
    if ((type & N_STAB) === 0 && input.readUInt16LE(entry + 6) & REFERENCED_DYNAMICALLY) keep[i] = 1;
  }

  // New tables: the kept entries in their old order, names copied into a fresh string table
  // that starts as ld64's do (" \0", so offset 0 is never a real name).
  const newIndex = new Int32Array(nsyms).fill(-1);
  const symbols: Buffer[] = [];
  const strings: Buffer[] = [Buffer.from(' \0', 'latin1')];
  let stringsLength = 2;
  const counts = [0, 0, 0];
  for (let i = 0; i < nsyms; i++) {
    if (!keep[i]) continue;
    const entry = Buffer.from(input.subarray(symoff + i * NLIST_SIZE, symoff + (i + 1) * NLIST_SIZE));
    const strx = entry.readUInt32LE(0);
    if (strx !== 0) {
      if (strx >= strsize) throw new MachOError(`symbol ${i} has its name outside the string table`);
      const start = stroff + strx;
      const end = input.indexOf(0, start);
      if (end < 0 || end >= stroff + strsize) throw new MachOError(`symbol ${i} has an unterminated name`);
      entry.writeUInt32LE(stringsLength, 0);
      const name = input.subarray(start, end + 1);
      strings.push(name);
      stringsLength += name.length;
    }
    newIndex[i] = symbols.length;
    symbols.push(entry);
    counts[i < iextdef ? 0 : i < iundef ? 1 : 2]!++;
  }
  const stringTable = Buffer.concat([...strings, Buffer.alloc((8 - (stringsLength % 8)) % 8)]);
  const newIndirect = Buffer.alloc(indirectCount * 4);
  indirect.forEach((index, i) => {
    const special = (index & (INDIRECT_SYMBOL_LOCAL | INDIRECT_SYMBOL_ABS)) !== 0;
    newIndirect.writeUInt32LE(special || index >= nsyms ? index : newIndex[index]!, i * 4);
  });

  for (const piece of pieces) {
    if (piece.offsetField === symtab + 8) piece.replacement = Buffer.concat(symbols);
    else if (piece.offsetField === symtab + 16) piece.replacement = stringTable;
    else if (piece.offsetField === dysymtab + 56) piece.replacement = newIndirect;
  }
  const out = relayoutLinkedit(input, macho, pieces);
  out.writeUInt32LE(symbols.length, symtab + 12);
  out.writeUInt32LE(stringTable.length, symtab + 20);
  const [locals, definitions, imports] = counts as [number, number, number];
  [0, locals, locals, definitions, locals + definitions, imports].forEach((value, index) => out.writeUInt32LE(value, dysymtab + 8 + 4 * index));
  return out;
}

/**
 * Adds an ad-hoc code signature, as `codesign --sign -` would: a SuperBlob at the end of
 * the file holding a CodeDirectory (SHA-256 of every 4 KiB page up to the signature, the
 * requirements' hash in its special slot), an empty requirement set and an empty CMS
 * wrapper; LC_CODE_SIGNATURE points at it and __LINKEDIT grows to cover it. Apple Silicon
 * runs nothing without at least this. The file must be unsigned.
 */
export function adhocSign(input: Buffer, identifier: string): Buffer {
  const macho = parseMachO(input);
  if (macho.commands.some((c) => c.cmd === LC_CODE_SIGNATURE)) throw new MachOError('already signed: remove the signature first');
  if (macho.commandsEnd + 16 > macho.firstSectionOffset) throw new MachOError('no room in the header for LC_CODE_SIGNATURE');
  const linkedit = linkeditOf(macho);
  const text = segmentNamed(macho, '__TEXT');
  if (!text) throw new MachOError('no __TEXT segment');
  if (linkedit.fileoff + linkedit.filesize !== input.length) throw new MachOError('the file does not end with __LINKEDIT');

  const codeLimit = align(input.length, 16);
  const codeSlots = Math.ceil(codeLimit / PAGE_SIZE);
  const ident = Buffer.from(`${identifier}\0`, 'utf8');
  const hashOffset = CODE_DIRECTORY_HEADER_SIZE + ident.length + SPECIAL_SLOTS * SHA256_SIZE;
  const codeDirectoryLength = hashOffset + codeSlots * SHA256_SIZE;
  const requirements = Buffer.alloc(12);
  requirements.writeUInt32BE(CSMAGIC_REQUIREMENTS, 0);
  requirements.writeUInt32BE(12, 4); // length; count 0
  const wrapper = Buffer.alloc(8);
  wrapper.writeUInt32BE(CSMAGIC_BLOBWRAPPER, 0);
  wrapper.writeUInt32BE(8, 4);
  const blobs: Array<[number, number]> = [
    [CSSLOT_CODEDIRECTORY, codeDirectoryLength],
    [CSSLOT_REQUIREMENTS, requirements.length],
    [CSSLOT_SIGNATURESLOT, wrapper.length],
  ];
  const superBlobHeader = 12 + 8 * blobs.length;
  const signatureLength = superBlobHeader + blobs.reduce((sum, [, length]) => sum + length, 0);
  const signatureSize = align(signatureLength, 16);

  // The header and __LINKEDIT as they will be: they are inside the hashed pages.
  const out = Buffer.alloc(codeLimit + signatureSize);
  input.copy(out);
  const command = macho.commandsEnd;
  out.writeUInt32LE(LC_CODE_SIGNATURE, command);
  out.writeUInt32LE(16, command + 4);
  out.writeUInt32LE(codeLimit, command + 8);
  out.writeUInt32LE(signatureSize, command + 12);
  out.writeUInt32LE(out.readUInt32LE(16) + 1, 16);
  out.writeUInt32LE(out.readUInt32LE(20) + 16, 20);
  setSegmentFileSize(out, macho, linkedit, codeLimit + signatureSize - linkedit.fileoff);

  const codeDirectory = Buffer.alloc(codeDirectoryLength);
  const fields: Array<[number, number]> = [
    [CSMAGIC_CODEDIRECTORY, 0],
    [codeDirectoryLength, 4],
    [CS_SUPPORTSEXECSEG, 8],
    [CS_ADHOC, 12],
    [hashOffset, 16],
    [CODE_DIRECTORY_HEADER_SIZE, 20], // identOffset
    [SPECIAL_SLOTS, 24],
    [codeSlots, 28],
    [codeLimit, 32],
  ];
  for (const [value, at] of fields) codeDirectory.writeUInt32BE(value, at);
  codeDirectory[36] = SHA256_SIZE;
  codeDirectory[37] = CS_HASHTYPE_SHA256;
  codeDirectory[38] = 0; // platform
  codeDirectory[39] = PAGE_SHIFT;
  // spare2, scatterOffset, teamOffset, spare3, codeLimit64: 0.
  codeDirectory.writeBigUInt64BE(BigInt(text.fileoff), 64); // execSegBase
  codeDirectory.writeBigUInt64BE(BigInt(text.filesize), 72); // execSegLimit
  codeDirectory.writeBigUInt64BE(BigInt(CS_EXECSEG_MAIN_BINARY), 80);
  ident.copy(codeDirectory, CODE_DIRECTORY_HEADER_SIZE);
  // Special slots sit before hashOffset, slot -n first: -2 requirements, -1 info.plist (none).
  sha256(requirements).copy(codeDirectory, hashOffset - CSSLOT_REQUIREMENTS * SHA256_SIZE);
  for (let page = 0; page < codeSlots; page++) {
    const start = page * PAGE_SIZE;
    sha256(out.subarray(start, Math.min(start + PAGE_SIZE, codeLimit))).copy(codeDirectory, hashOffset + page * SHA256_SIZE);
  }

  const signature = out.subarray(codeLimit);
  signature.writeUInt32BE(CSMAGIC_EMBEDDED_SIGNATURE, 0);
  signature.writeUInt32BE(signatureLength, 4);
  signature.writeUInt32BE(blobs.length, 8);
  let blobOffset = superBlobHeader;
  for (const [index, [slot, length]] of blobs.entries()) {
    signature.writeUInt32BE(slot, 12 + 8 * index);
    signature.writeUInt32BE(blobOffset, 16 + 8 * index);
    blobOffset += length;
  }
  Buffer.concat([codeDirectory, requirements, wrapper]).copy(signature, superBlobHeader);
  return out;
}

function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

function align(value: number, to: number): number {
  return Math.ceil(value / to) * to;
}

function cString(file: Buffer, offset: number, max: number): string {
  const end = file.indexOf(0, offset);
  return file.toString('latin1', offset, end < 0 || end > offset + max ? offset + max : end);
}
