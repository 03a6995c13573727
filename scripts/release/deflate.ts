// Deflate for the .zip and .tar.gz downloads. zlib at level 9 leaves the Windows zip just
// over 40 MB; 7-Zip's deflate encoder writes a stream any inflater reads, ~3 % smaller
// (measured on a Node binary: 3.7 % below `gzip -6`, 3.2 % below zlib -9), at ~35 s of
// CPU for one binary.
import { spawn } from 'node:child_process';
import { crc32, inflateRawSync } from 'node:zlib';
import { ReleaseError, requireTool } from './run.ts';

/** 7-Zip's strongest deflate settings short of its very slow many-pass ones. */
const SEVEN_ZIP_ARGS = ['a', '-tgzip', '-mx=9', '-mfb=258', '-mpass=3', '-si', '-so', '-an'];

/** A gzip member's fixed header: deflate, no flags, no time, "unknown" OS (RFC 1952). */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff]);
const FLAG_HCRC = 0x02;
const FLAG_EXTRA = 0x04;
const FLAG_NAME = 0x08;
const FLAG_COMMENT = 0x10;

/**
 * The raw deflate stream of `data`, made by 7-Zip and checked by inflating it again (a
 * download that does not unpack is worse than a larger one).
 */
export async function deflateRawSmallest(data: Buffer): Promise<Buffer> {
  const gzip = await pipeThrough(requireTool('7zip', '7zz', '7z'), SEVEN_ZIP_ARGS, data);
  const raw = gzipBody(gzip);
  const expected = crc32(data);
  if (gzip.readUInt32LE(gzip.length - 8) !== expected || crc32(inflateRawSync(raw)) !== expected) {
    throw new ReleaseError('7-Zip wrote a deflate stream that does not give the input back');
  }
  return raw;
}

/** A reproducible .gz of `data`: 7-Zip's deflate under a header without time or name. */
export async function gzipSmallest(data: Buffer): Promise<Buffer> {
  const raw = await deflateRawSmallest(data);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(data), 0);
  trailer.writeUInt32LE(data.length >>> 0, 4); // ISIZE is the length modulo 2^32
  return Buffer.concat([GZIP_HEADER, raw, trailer]);
}

/** The deflate stream inside a single-member gzip file (header fields skipped per RFC 1952). */
export function gzipBody(gzip: Buffer): Buffer {
  if (gzip.length < 18 || gzip[0] !== 0x1f || gzip[1] !== 0x8b || gzip[2] !== 8) throw new ReleaseError('not a deflate gzip stream');
  const flags = gzip[3]!;
  let at = 10;
  if (flags & FLAG_EXTRA) at += 2 + gzip.readUInt16LE(at);
  if (flags & FLAG_NAME) at = gzip.indexOf(0, at) + 1;
  if (flags & FLAG_COMMENT) at = gzip.indexOf(0, at) + 1;
  if (flags & FLAG_HCRC) at += 2;
  if (at <= 0 || at > gzip.length - 8) throw new ReleaseError('truncated gzip header');
  return gzip.subarray(at, gzip.length - 8);
}

function pipeThrough(command: string, args: readonly string[], input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', (err) => reject(new ReleaseError(`${command}: ${err.message}`)));
    child.on('close', (code) =>
      code === 0 ? resolve(Buffer.concat(out)) : reject(new ReleaseError(`${command} failed (exit ${code}): ${stderr.trim()}`)),
    );
    child.stdin.on('error', () => {}); // a failure to start is reported by 'close'
    child.stdin.end(input);
  });
}
