// The five binaries of the release, checked as files (the macOS ones cannot run here):
// each has the SEA blob in the place its format wants (an ELF note, the NODE_SEA Mach-O
// segment, a PE resource) with our program and the SDK asset in it, the SEA fuse flipped,
// the SDK code cache only where the host's Node made it; the macOS binaries parse, lost
// their debugging symbols and carry an ad-hoc signature whose every page hash an
// independent reader recomputes; the Windows one lost its stale Authenticode table and
// has a correct image checksum.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseMachO } from '../../scripts/release/macho.ts';
import { cacheRoot } from '../../scripts/release/node-cache.ts';
import { certificateTable, imageChecksum } from '../../scripts/release/pe.ts';
import { NODE_VERSION, TARGETS } from '../../scripts/release/targets.ts';
import { SEA_FUSE } from '../../scripts/lib/sea.ts';
import { findOnPath } from '../helpers/aws-cli-sandbox.ts';
import { checkSignature } from '../helpers/macho-signature.ts';
import { peChecksumField, referenceChecksum } from '../helpers/pe-checksum.ts';
import { releaseBinary, releaseReport } from '../helpers/release-files.ts';

/** Text only our main script has, and the asset names the SEA blob lists. */
const PROGRAM_MARK = 'Terminate signal received, exiting.';
const CPU = { x64: { macho: 0x01000007, elf: 62 }, arm64: { macho: 0x0100000c, elf: 183 } };

function occurrences(file: Buffer, text: string): number {
  let count = 0;
  for (let at = file.indexOf(text); at >= 0; at = file.indexOf(text, at + 1)) count++;
  return count;
}

const report = releaseReport(t);
if (report) {
  for (const target of TARGETS) {
    const binary = releaseBinary(t, report, target.id);
    if (!binary) continue;
    t.test(target.id, async (t) => {
      const file = readFileSync(binary);
      t.ok(file.includes(`${SEA_FUSE}:1`) && !file.includes(`${SEA_FUSE}:0`), 'the SEA fuse is flipped');
      t.ok(file.includes(PROGRAM_MARK), 'our program is in the blob');
      t.ok(file.includes('aws-sdk.cjs'), 'with the SDK asset');
      // The program names the cache asset once itself; the asset table names it once more.
      const cacheNames = occurrences(file, 'aws-sdk.cache');
      if (target.id === 'linux-x64') t.ok(cacheNames >= 2, "the SDK code cache asset: the host's Node made it");
      else t.equal(cacheNames, 1, 'no SDK code cache asset: only the Node that makes one can load it');
      t.notOk(file.includes(path.resolve('dist/release')), 'no path of the build machine inside');

      if (target.format === 'elf') {
        t.equal(file.readUInt16LE(18), CPU[target.arch].elf, 'ELF machine');
        const sections = spawnSync('readelf', ['-S', '-W', binary], { encoding: 'utf8' });
        if (sections.status === 0) t.notMatch(sections.stdout, /\.symtab/, 'stripped: no .symtab');
        const notes = spawnSync('readelf', ['-n', '-W', binary], { encoding: 'utf8' });
        if (notes.status === 0) t.match(notes.stdout, /NODE_SEA_BLOB/, 'the blob is an ELF note');
      }

      if (target.format === 'macho') {
        const check = checkSignature(file);
        t.equal(check.cpu, CPU[target.arch].macho, 'Mach-O CPU type');
        t.same(check.problems, [], 'the ad-hoc signature holds: every page hash recomputed independently');
        t.equal(check.pagesMatching, check.codeSlots, `${check.codeSlots} pages`);
        t.equal(check.identifier, 'session-manager-plugin');
        t.equal((check.flags ?? 0) & 0x2, 0x2, 'CS_ADHOC');
        t.same(
          check.segments.map((s) => s.name),
          ['__PAGEZERO', '__TEXT', '__DATA_CONST', '__DATA', 'NODE_SEA', '__LINKEDIT'],
          'NODE_SEA before __LINKEDIT',
        );
        const blob = check.sections['NODE_SEA']?.find((s) => s.name === '__NODE_SEA_BLOB');
        t.ok(blob, 'the __NODE_SEA_BLOB section');
        if (blob) t.ok(file.subarray(blob.offset, blob.offset + blob.size).includes(PROGRAM_MARK), 'holding our program');
        const symtab = parseMachO(file).commands.find((c) => c.cmd === 0x2);
        t.ok(symtab && file.readUInt32LE(symtab.offset + 12) < 10_000, 'debugging and local symbols stripped');
        const objdump = findOnPath('llvm-objdump') ?? findOnPath('llvm-objdump-14');
        if (objdump) {
          const parsed = spawnSync(objdump, ['--macho', '--private-headers', binary], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
          t.equal(parsed.status, 0, 'llvm-objdump parses it');
          t.match(parsed.stdout, /cmd LC_CODE_SIGNATURE/);
        }
      }

      if (target.format === 'pe') {
        t.same(certificateTable(file), { offset: 0, size: 0 }, 'no Authenticode table (injection broke the original)');
        t.equal(file.readUInt32LE(peChecksumField(file)), referenceChecksum(file), 'the image checksum is right');
        t.ok(file.includes(Buffer.from('NODE_SEA_BLOB', 'utf16le')), 'the NODE_SEA_BLOB resource');
        const original = path.join(cacheRoot(), `node-v${NODE_VERSION}-${target.id}`, 'node.exe');
        if (existsSync(original)) {
          const node = readFileSync(original);
          t.equal(imageChecksum(node), node.readUInt32LE(peChecksumField(node)), "our checksum agrees with the one Node's signed build carries");
        }
      }
    });
  }
}
