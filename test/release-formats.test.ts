// The small file formats the release writes itself: the Windows binary's signature removal
// and image checksum (scripts/release/pe.ts) on a PE32+ file made here, and the .zip writer
// (scripts/release/packages.ts) and the .tar.gz compression (scripts/release/deflate.ts),
// read back by an independent reader, by unzip when the machine has it, and by gzip.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32, deflateRawSync, gzipSync } from 'node:zlib';
import { gzipBody, gzipSmallest } from '../scripts/release/deflate.ts';
import { ReleaseError } from '../scripts/release/run.ts';
import { certificateTable, imageChecksum, PeError, removeCertificates, setImageChecksum } from '../scripts/release/pe.ts';
import { zip } from '../scripts/release/packages.ts';
import { readZip } from './helpers/archive-readers.ts';
import { peChecksumField, referenceChecksum } from './helpers/pe-checksum.ts';

const PE_OFFSET = 0x40;
const OPTIONAL = PE_OFFSET + 24;

/** A PE32+ image: headers, one section of random bytes, and an Authenticode-like table at the end. */
function buildPe(certificate: Buffer | undefined, bodyLength = 4096): Buffer {
  const headers = Buffer.alloc(0x400);
  headers.write('MZ', 0, 'latin1');
  headers.writeUInt32LE(PE_OFFSET, 0x3c);
  headers.write('PE\0\0', PE_OFFSET, 'latin1');
  headers.writeUInt16LE(0x8664, PE_OFFSET + 4); // x64
  headers.writeUInt16LE(1, PE_OFFSET + 6); // one section
  headers.writeUInt16LE(240, PE_OFFSET + 20); // optional header size
  headers.writeUInt16LE(0x20b, OPTIONAL); // PE32+
  headers.writeUInt32LE(0x12345678, OPTIONAL + 64); // a stale checksum
  headers.writeUInt32LE(16, OPTIONAL + 108); // data directories
  const body = randomBytes(bodyLength);
  const image = Buffer.concat([headers, body]);
  if (!certificate) return image;
  image.writeUInt32LE(image.length, OPTIONAL + 112 + 8 * 4);
  image.writeUInt32LE(certificate.length, OPTIONAL + 112 + 8 * 4 + 4);
  return Buffer.concat([image, certificate]);
}

t.test('PE: the certificate table is removed and the image checksum set', async (t) => {
  const certificate = randomBytes(512);
  const signed = buildPe(certificate);
  t.same(certificateTable(signed), { offset: signed.length - 512, size: 512 });
  const unsigned = removeCertificates(signed);
  t.equal(unsigned.length, signed.length - 512, 'the table is cut off');
  t.same(certificateTable(unsigned), { offset: 0, size: 0 }, 'the security directory is cleared');
  t.ok(unsigned.subarray(0x400).equals(signed.subarray(0x400, signed.length - 512)), 'the image itself is unchanged');
  t.equal(removeCertificates(unsigned), unsigned, 'an unsigned image is returned as it is');

  for (const image of [unsigned, buildPe(undefined, 4097)]) {
    t.equal(imageChecksum(image), referenceChecksum(image), `checksum of ${image.length} bytes agrees with the reference`);
    const copy = Buffer.from(image);
    setImageChecksum(copy);
    t.equal(copy.readUInt32LE(peChecksumField(copy)), referenceChecksum(image), 'written into the optional header');
    t.equal(imageChecksum(copy), copy.readUInt32LE(peChecksumField(copy)), 'the field itself does not count');
  }
});

t.test('PE: refuses what it does not understand', async (t) => {
  t.throws(() => certificateTable(Buffer.alloc(0x100)), PeError, 'no MZ');
  const pe32 = buildPe(undefined);
  pe32.writeUInt16LE(0x10b, OPTIONAL);
  t.throws(() => removeCertificates(pe32), /not a PE32\+/);
  const notLast = Buffer.concat([buildPe(randomBytes(64)), Buffer.alloc(16)]);
  t.throws(() => removeCertificates(notLast), /not at the end of the file/);
});

t.test('zip: entries read back intact, with their modes and time', async (t) => {
  const exe = randomBytes(300_000);
  const license = Buffer.from('Apache License\n'.repeat(100));
  const epoch = Date.UTC(2026, 10, 22, 15, 55, 38) / 1000;
  const archive = await zip(
    [
      { name: 'pkg/session-manager-plugin.exe', data: exe, mode: 0o755 },
      { name: 'pkg/LICENSE', data: license, mode: 0o644 },
    ],
    epoch,
  );
  const entries = readZip(archive);
  t.same(
    entries.map((e) => [e.name, e.method, e.mode.toString(8), e.size]),
    [
      ['pkg/session-manager-plugin.exe', 8, '100755', exe.length],
      ['pkg/LICENSE', 8, '100644', license.length],
    ],
  );
  t.ok(entries[0]!.data.equals(exe) && entries[1]!.data.equals(license), 'contents inflate to the originals');
  t.same(entries.map((e) => e.crc), [crc32(exe), crc32(license)], 'CRC-32s');
  const { date, time } = entries[0]!;
  t.same([(date >> 9) + 1980, (date >> 5) & 15, date & 31, time >> 11, (time >> 5) & 63, (time & 31) * 2], [2026, 11, 22, 15, 55, 38], 'DOS time of the epoch');

  const unzip = spawnSync('unzip', ['-v'], { encoding: 'utf8' });
  if (unzip.error) return void t.comment('unzip is not installed: the independent reader above only');
  const dir = mkdtempSync(path.join(tmpdir(), 'zip-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'a.zip'), archive);
  const tested = spawnSync('unzip', ['-t', path.join(dir, 'a.zip')], { encoding: 'utf8' });
  t.equal(tested.status, 0, 'unzip -t passes');
  t.match(tested.stdout, /No errors detected/);
});

t.test('gzip of the .tar.gz: 7-Zip deflate under a fixed header, read back by gzip itself', async (t) => {
  // Compressible and incompressible parts, as in a binary: code-like text and random bytes.
  const data = Buffer.concat([Buffer.from('mov rax, [rbp-8]\ncall 0x401000\n'.repeat(20_000)), randomBytes(200_000)]);
  const gz = await gzipSmallest(data);
  t.same([...gz.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff], 'no time or name in the header');
  t.ok(gz.equals(await gzipSmallest(data)), 'the same input gives the same bytes');
  t.ok(gz.length < gzipSync(data, { level: 9 }).length, 'smaller than zlib at level 9');
  const gunzip = spawnSync('gzip', ['-dc'], { input: gz, maxBuffer: 64 * 1024 * 1024 });
  t.equal(gunzip.status, 0, 'gzip -d accepts it');
  t.ok(Buffer.from(gunzip.stdout).equals(data), 'gzip -d gives the input back');
});

t.test('gzipBody skips every optional header field (RFC 1952)', async (t) => {
  const raw = deflateRawSync(Buffer.from('payload'));
  const trailer = Buffer.alloc(8);
  const withFields = Buffer.concat([
    Buffer.from([0x1f, 0x8b, 8, 0x04 | 0x08 | 0x10 | 0x02, 0, 0, 0, 0, 0, 3]),
    Buffer.from([3, 0, 0xaa, 0xbb, 0xcc]), // FEXTRA: length 3
    Buffer.from('name.tar\0comment\0', 'latin1'),
    Buffer.from([0x12, 0x34]), // FHCRC
    raw,
    trailer,
  ]);
  t.ok(gzipBody(withFields).equals(raw), 'extra, name, comment and header CRC skipped');
  t.throws(() => gzipBody(Buffer.from('not gzip at all, not at all')), ReleaseError);
});
