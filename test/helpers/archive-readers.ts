// Readers for the archives the release makes, written from the formats' descriptions
// (PKWARE's APPNOTE for zip, the "newc" cpio layout that rpm2cpio writes) so that tests do
// not depend on the code that wrote them, nor on unzip or cpio being installed.
import { inflateRawSync } from 'node:zlib';

export interface ZipEntry {
  name: string;
  method: number;
  time: number;
  date: number;
  crc: number;
  size: number;
  mode: number;
  data: Buffer;
}

/** Every entry of a zip, through its central directory. */
export function readZip(archive: Buffer): ZipEntry[] {
  const end = archive.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new Error('no end of central directory record');
  const count = archive.readUInt16LE(end + 10);
  let at = archive.readUInt32LE(end + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (archive.readUInt32LE(at) !== 0x02014b50) throw new Error('bad central directory entry');
    const method = archive.readUInt16LE(at + 10);
    const compressed = archive.readUInt32LE(at + 20);
    const nameLength = archive.readUInt16LE(at + 28);
    const local = archive.readUInt32LE(at + 42);
    if (archive.readUInt32LE(local) !== 0x04034b50) throw new Error('bad local header');
    const dataAt = local + 30 + archive.readUInt16LE(local + 26) + archive.readUInt16LE(local + 28);
    const raw = archive.subarray(dataAt, dataAt + compressed);
    entries.push({
      name: archive.toString('utf8', at + 46, at + 46 + nameLength),
      method,
      time: archive.readUInt16LE(at + 12),
      date: archive.readUInt16LE(at + 14),
      crc: archive.readUInt32LE(at + 16),
      size: archive.readUInt32LE(at + 24),
      mode: archive.readUInt32LE(at + 38) >>> 16,
      data: method === 8 ? inflateRawSync(raw) : Buffer.from(raw),
    });
    at += 46 + nameLength + archive.readUInt16LE(at + 30) + archive.readUInt16LE(at + 32);
  }
  return entries;
}

export interface CpioEntry {
  name: string;
  mode: number;
  inode: number;
  links: number;
  data: Buffer;
}

/** Every entry of a "newc" (070701) cpio archive; hard links share an inode, data on the last. */
export function readCpio(archive: Buffer): CpioEntry[] {
  const entries: CpioEntry[] = [];
  const align4 = (n: number) => (n + 3) & ~3;
  let at = 0;
  for (;;) {
    if (archive.toString('latin1', at, at + 6) !== '070701') throw new Error(`no cpio header at ${at}`);
    const field = (index: number) => parseInt(archive.toString('latin1', at + 6 + 8 * index, at + 14 + 8 * index), 16);
    const [inode, mode, links, size, nameSize] = [field(0), field(1), field(4), field(6), field(11)];
    const name = archive.toString('utf8', at + 110, at + 110 + nameSize - 1);
    const dataAt = align4(at + 110 + nameSize);
    if (name === 'TRAILER!!!') return entries;
    entries.push({ name, mode, inode, links, data: archive.subarray(dataAt, dataAt + size) });
    at = align4(dataAt + size);
  }
}
