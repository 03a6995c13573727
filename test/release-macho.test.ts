// scripts/release/macho.ts on a small Mach-O executable made here, byte by byte, with the
// parts a Node binary has: __PAGEZERO, __TEXT with code, __LINKEDIT holding chained fixups,
// function starts, a symbol table (debugging entries, locals, exports, imports), an indirect
// symbol table and a code signature. The signature it makes is checked by an independent
// reader (helpers/macho-signature.ts) that recomputes every page hash.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { adhocSign, MachOError, parseMachO, removeSignature, stripSymbols } from '../scripts/release/macho.ts';
import { checkSignature } from './helpers/macho-signature.ts';

const TEXT_SIZE = 0x8000;
const CODE_OFFSET = 0x4000;
const INDIRECT_LOCAL = 0x80000000;

interface Symbol {
  name: string;
  type: number;
  desc?: number;
}

/** The symbols, in locals / definitions / imports order. */
const LOCALS: Symbol[] = [
  { name: '/src/a.c', type: 0x64 }, // N_SO: a debugging (stab) entry
  { name: '_helper', type: 0x0e }, // N_SECT, local
  { name: '_other_local', type: 0x0e },
];
const DEFINITIONS: Symbol[] = [
  { name: '__mh_execute_header', type: 0x0f, desc: 0x10 }, // REFERENCED_DYNAMICALLY
  { name: '_exported', type: 0x0f },
  { name: '_weak_definition', type: 0x0f },
];
const IMPORTS: Symbol[] = [
  { name: '_malloc', type: 0x01 },
  { name: '_free', type: 0x01 },
];
/** Indirect symbol table: _malloc, _weak_definition, a local GOT slot, _free. */
const INDIRECT = [6, 5, INDIRECT_LOCAL, 7];

interface Built {
  file: Buffer;
  code: Buffer;
  fixups: Buffer;
  functionStarts: Buffer;
}

function align(value: number, to: number): number {
  return Math.ceil(value / to) * to;
}

/** A signed-looking arm64 executable (the "signature" is opaque bytes, as removal treats it). */
function buildMachO(): Built {
  const symbols = [...LOCALS, ...DEFINITIONS, ...IMPORTS];
  const code = randomBytes(0x3000);
  const fixups = randomBytes(40);
  const functionStarts = randomBytes(24);
  let strings = Buffer.from(' \0');
  const nlist = Buffer.alloc(16 * symbols.length);
  symbols.forEach((symbol, i) => {
    nlist.writeUInt32LE(strings.length, 16 * i);
    nlist[16 * i + 4] = symbol.type;
    nlist[16 * i + 5] = symbol.type === 0x01 ? 0 : 1;
    nlist.writeUInt16LE(symbol.desc ?? 0, 16 * i + 6);
    nlist.writeBigUInt64LE(symbol.type === 0x01 ? 0n : 0x100004000n + BigInt(i * 16), 16 * i + 8);
    strings = Buffer.concat([strings, Buffer.from(`${symbol.name}\0`)]);
  });
  strings = Buffer.concat([strings, Buffer.alloc(align(strings.length, 8) - strings.length)]);
  const indirect = Buffer.alloc(4 * INDIRECT.length);
  INDIRECT.forEach((value, i) => indirect.writeUInt32LE(value >>> 0, 4 * i));
  const signature = Buffer.concat([Buffer.from([0xfa, 0xde, 0x0c, 0xc0]), randomBytes(60)]);

  // __LINKEDIT: fixups, function starts, symbols, indirect symbols, strings, signature.
  const linkeditStart = TEXT_SIZE;
  const layout: Buffer[] = [];
  const offsets: number[] = [];
  let at = linkeditStart;
  for (const [piece, alignment] of [
    [fixups, 8],
    [functionStarts, 8],
    [nlist, 8],
    [indirect, 8],
    [strings, 8],
    [signature, 16],
  ] as const) {
    const padded = align(at, alignment);
    layout.push(Buffer.alloc(padded - at));
    offsets.push(padded);
    layout.push(piece);
    at = padded + piece.length;
  }
  const [fixupsAt, startsAt, symbolsAt, indirectAt, stringsAt, signatureAt] = offsets as [number, number, number, number, number, number];
  const linkedit = Buffer.concat(layout);

  const commands: Buffer[] = [];
  const segment = (name: string, vmaddr: bigint, vmsize: bigint, fileoff: number, filesize: number, sections: Buffer[] = []) => {
    const command = Buffer.alloc(72);
    command.writeUInt32LE(0x19, 0);
    command.writeUInt32LE(72 + 80 * sections.length, 4);
    command.write(name, 8, 'latin1');
    command.writeBigUInt64LE(vmaddr, 24);
    command.writeBigUInt64LE(vmsize, 32);
    command.writeBigUInt64LE(BigInt(fileoff), 40);
    command.writeBigUInt64LE(BigInt(filesize), 48);
    command.writeUInt32LE(5, 56);
    command.writeUInt32LE(5, 60);
    command.writeUInt32LE(sections.length, 64);
    commands.push(Buffer.concat([command, ...sections]));
  };
  const words = (...values: number[]) => {
    const command = Buffer.alloc(4 * values.length);
    values.forEach((value, i) => command.writeUInt32LE(value >>> 0, 4 * i));
    commands.push(command);
  };
  const textSection = Buffer.alloc(80);
  textSection.write('__text', 0, 'latin1');
  textSection.write('__TEXT', 16, 'latin1');
  textSection.writeBigUInt64LE(0x100000000n + BigInt(CODE_OFFSET), 32);
  textSection.writeBigUInt64LE(BigInt(code.length), 40);
  textSection.writeUInt32LE(CODE_OFFSET, 48);
  segment('__PAGEZERO', 0n, 0x100000000n, 0, 0);
  segment('__TEXT', 0x100000000n, BigInt(TEXT_SIZE), 0, TEXT_SIZE, [textSection]);
  segment('__LINKEDIT', 0x100008000n, BigInt(align(linkedit.length, 0x4000)), linkeditStart, linkedit.length);
  words(0x80000034, 16, fixupsAt, fixups.length); // LC_DYLD_CHAINED_FIXUPS
  words(0x2, 24, symbolsAt, LOCALS.length + DEFINITIONS.length + IMPORTS.length, stringsAt, strings.length); // LC_SYMTAB
  words(0xb, 80, 0, 3, 3, 3, 6, 2, 0, 0, 0, 0, 0, 0, indirectAt, INDIRECT.length, 0, 0, 0, 0); // LC_DYSYMTAB
  words(0x26, 16, startsAt, functionStarts.length); // LC_FUNCTION_STARTS
  words(0x29, 16, startsAt + functionStarts.length, 0); // LC_DATA_IN_CODE, empty
  commands.push(Buffer.concat([Buffer.from([0x28, 0, 0, 0x80, 24, 0, 0, 0]), Buffer.alloc(16)])); // LC_MAIN
  words(0x1d, 16, signatureAt, signature.length); // LC_CODE_SIGNATURE
  const loadCommands = Buffer.concat(commands);

  const header = Buffer.alloc(32);
  header.writeUInt32LE(0xfeedfacf, 0);
  header.writeUInt32LE(0x0100000c, 4); // arm64
  header.writeUInt32LE(0x2, 12); // MH_EXECUTE
  header.writeUInt32LE(commands.length, 16);
  header.writeUInt32LE(loadCommands.length, 20);
  const text = Buffer.alloc(TEXT_SIZE);
  Buffer.concat([header, loadCommands]).copy(text);
  code.copy(text, CODE_OFFSET);
  return { file: Buffer.concat([text, linkedit]), code, fixups, functionStarts };
}

/** The file's symbol names, the dysymtab partition counts and the indirect table, read directly. */
function readSymbols(file: Buffer) {
  const macho = parseMachO(file);
  const symtab = macho.commands.find((c) => c.cmd === 0x2)!.offset;
  const dysymtab = macho.commands.find((c) => c.cmd === 0xb)!.offset;
  const [symoff, nsyms, stroff] = [8, 12, 16].map((o) => file.readUInt32LE(symtab + o)) as [number, number, number];
  const names = Array.from({ length: nsyms }, (_, i) => {
    const start = stroff + file.readUInt32LE(symoff + 16 * i);
    return file.toString('latin1', start, file.indexOf(0, start));
  });
  const partitions = [8, 12, 16, 20, 24, 28].map((o) => file.readUInt32LE(dysymtab + o));
  const [indirectAt, indirectCount] = [file.readUInt32LE(dysymtab + 56), file.readUInt32LE(dysymtab + 60)];
  const indirect = Array.from({ length: indirectCount }, (_, i) => {
    const value = file.readUInt32LE(indirectAt + 4 * i);
    return value === INDIRECT_LOCAL ? 'LOCAL' : names[value];
  });
  return { names, partitions, indirect };
}

function linkeditData(file: Buffer, cmd: number): Buffer {
  const command = parseMachO(file).commands.find((c) => c.cmd === cmd)!.offset;
  const offset = file.readUInt32LE(command + 8);
  return file.subarray(offset, offset + file.readUInt32LE(command + 12));
}

t.test('removeSignature drops LC_CODE_SIGNATURE and its data, nothing else', async (t) => {
  const built = buildMachO();
  const unsigned = removeSignature(built.file);
  const macho = parseMachO(unsigned);
  t.notOk(macho.commands.some((c) => c.cmd === 0x1d), 'no LC_CODE_SIGNATURE left');
  t.equal(macho.commands.length, parseMachO(built.file).commands.length - 1, 'one command fewer');
  t.ok(unsigned.subarray(CODE_OFFSET, TEXT_SIZE).equals(built.file.subarray(CODE_OFFSET, TEXT_SIZE)), '__TEXT untouched');
  t.ok(linkeditData(unsigned, 0x80000034).equals(built.fixups), 'chained fixups moved intact');
  t.ok(linkeditData(unsigned, 0x26).equals(built.functionStarts), 'function starts intact');
  const linkedit = macho.segments.find((s) => s.name === '__LINKEDIT')!;
  t.equal(linkedit.fileoff + linkedit.filesize, unsigned.length, '__LINKEDIT ends the file');
  t.ok(unsigned.length < built.file.length - 60, 'the signature bytes are gone');
  t.same(readSymbols(unsigned).names, readSymbols(built.file).names, 'symbols unchanged');
  t.equal(removeSignature(unsigned), unsigned, 'an unsigned file is returned as it is');
});

t.test('stripSymbols keeps imports, what the indirect table names and __mh_execute_header', async (t) => {
  const built = buildMachO();
  t.throws(() => stripSymbols(built.file), MachOError, 'refuses a signed file');
  const stripped = stripSymbols(removeSignature(built.file));
  const { names, partitions, indirect } = readSymbols(stripped);
  t.same(names, ['__mh_execute_header', '_weak_definition', '_malloc', '_free'], 'stabs, locals and unused exports dropped');
  t.same(partitions, [0, 0, 0, 2, 2, 2], 'LC_DYSYMTAB: no locals, 2 definitions, 2 imports');
  t.same(indirect, ['_malloc', '_weak_definition', 'LOCAL', '_free'], 'indirect entries still name the same symbols');
  t.ok(linkeditData(stripped, 0x80000034).equals(built.fixups), 'chained fixups intact');
  t.ok(linkeditData(stripped, 0x26).equals(built.functionStarts), 'function starts intact');
  t.ok(stripped.subarray(CODE_OFFSET, CODE_OFFSET + built.code.length).equals(built.code), 'code untouched');
});

t.test('adhocSign: an ad-hoc signature every page of which checks out independently', async (t) => {
  const unsigned = stripSymbols(removeSignature(buildMachO().file));
  const signed = adhocSign(unsigned, 'session-manager-plugin');
  const check = checkSignature(signed);
  t.same(check.problems, [], 'no problems found by the independent reader');
  t.equal(check.identifier, 'session-manager-plugin');
  t.equal((check.flags ?? 0) & 0x2, 0x2, 'CS_ADHOC');
  t.equal(check.version, 0x20400, 'CodeDirectory version with the exec segment fields');
  t.same(check.slots, [0, 2, 0x10000], 'CodeDirectory, requirements, empty CMS wrapper');
  t.ok(check.codeSlots! > 8, `${check.codeSlots} pages hashed`);
  t.equal(check.pagesMatching, check.codeSlots, 'every page hash matches');
  t.throws(() => adhocSign(signed, 'again'), MachOError, 'refuses to sign twice');
  t.same(removeSignature(signed), unsigned, 'removing the signature gives back the unsigned file');

  const tampered = Buffer.from(signed);
  tampered[CODE_OFFSET + 100]! ^= 1;
  t.match(checkSignature(tampered).problems, [/1 of \d+ page hashes do not match/], 'a flipped code byte is caught');
  const truncated = signed.subarray(0, signed.length - 16);
  t.ok(checkSignature(truncated).problems.length > 0, 'a truncated file is caught');
});

t.test('refuses what it cannot rewrite safely', async (t) => {
  t.throws(() => parseMachO(Buffer.alloc(64)), MachOError, 'not Mach-O');
  const unknown = buildMachO().file;
  const main = parseMachO(unknown).commands.find((c) => c.cmd === 0x80000028)!;
  unknown.writeUInt32LE(0x99, main.offset); // an unknown load command
  t.throws(() => removeSignature(unknown), /unknown load command 0x99/);
});
