// The reader of what cp's target-side scripts print: protocol lines and base64 data,
// however the output is cut into frames, with LF or a terminal's CRLF line ends, with
// GNU-style 76-character lines or one unbroken line (macOS base64), and with other text
// around it (a KMS notice, a shell's complaint).
import t from 'tap';
import { OutputParser, base64Lines, base64LinesLength, type ProtocolLine } from '../src/client/copy/output-parser.ts';

function allBytes(repeat: number): Buffer {
  const data = Buffer.alloc(256 * repeat);
  for (let i = 0; i < data.length; i++) data[i] = i % 256;
  return data;
}

function parse(output: Buffer, cut: (output: Buffer) => Buffer[], marker = 'm1'): { lines: ProtocolLine[]; data: Buffer; parser: OutputParser } {
  const lines: ProtocolLine[] = [];
  const data: Buffer[] = [];
  const parser = new OutputParser(marker, { line: (line) => lines.push(line), data: (chunk) => data.push(chunk) });
  for (const piece of cut(output)) parser.write(piece);
  parser.end();
  return { lines, data: Buffer.concat(data), parser };
}

const whole = (output: Buffer): Buffer[] => [output];
const bytewise = (output: Buffer): Buffer[] => [...output].map((byte) => Buffer.from([byte]));
const frames = (size: number) => (output: Buffer): Buffer[] => {
  const pieces: Buffer[] = [];
  for (let i = 0; i < output.length; i += size) pieces.push(output.subarray(i, i + size));
  return pieces;
};

t.test('data between DATA and END, whatever the cuts and line ends', async (t) => {
  const data = allBytes(40); // every byte value, 10 KiB
  const gnu = base64Lines(data, 76);
  const variants: Array<[string, string]> = [
    ['LF, 76 columns', `#SSMCP m1 DATA\n${gnu}#SSMCP m1 END abc\n`],
    ['CRLF (a terminal)', `#SSMCP m1 DATA\r\n${gnu.replaceAll('\n', '\r\n')}#SSMCP m1 END abc\r\n`],
    ['one long line (macOS base64)', `#SSMCP m1 DATA\n${data.toString('base64')}\n#SSMCP m1 END abc\n`],
    ['text before', `This session is encrypted using AWS KMS.\n#SSMCP m1 DATA\n${gnu}#SSMCP m1 END abc\n`],
  ];
  for (const [name, text] of variants) {
    for (const [how, cut] of [['whole', whole], ['byte by byte', bytewise], ['1 KiB frames', frames(1024)], ['1027-byte frames', frames(1027)]] as const) {
      const { lines, data: decoded, parser } = parse(Buffer.from(text), cut);
      t.equal(decoded.toString('hex'), data.toString('hex'), `${name}, ${how}: the bytes`);
      t.same(lines.map((l) => [l.kind, l.rest]), [['DATA', ''], ['END', 'abc']], `${name}, ${how}: the lines`);
      t.equal(parser.error, undefined, `${name}, ${how}: no error`);
    }
  }
});

t.test('protocol lines: fields, rest with spaces, other markers and text are not ours', async (t) => {
  const { lines, parser } = parse(
    Buffer.from('#SSMCP m1 STAT 20000 -rw-r--r--\n#SSMCP m2 STAT 1 x\nsh: 1: oops\n#SSMCP m1 DEST /tmp/a b/c\n#SSMCP m1 OK'),
    bytewise,
  );
  t.same(
    lines.map((l) => [l.kind, l.fields, l.rest]),
    [
      ['STAT', ['20000', '-rw-r--r--'], '20000 -rw-r--r--'],
      ['DEST', ['/tmp/a', 'b/c'], '/tmp/a b/c'],
      ['OK', [], ''],
    ],
    "another marker's line is noise; a last line without LF still counts",
  );
  t.equal(parser.noise, '#SSMCP m2 STAT 1 x\nsh: 1: oops', 'the rest is kept for error messages');
});

t.test('broken data is reported, not written', async (t) => {
  const cut = parse(Buffer.from('#SSMCP m1 DATA\nQUJD\nQU'), whole);
  t.equal(cut.parser.error, 'the file data ended early', 'output ends inside the data');
  const garbage = parse(Buffer.from('#SSMCP m1 DATA\nQUJD\nsh: x: not found\n#SSMCP m1 END h\n'), whole);
  t.equal(garbage.parser.error, 'unexpected text in the file data');
  const partial = parse(Buffer.from('#SSMCP m1 DATA\nQUJDR\n#SSMCP m1 END h\n'), whole);
  t.equal(partial.parser.error, 'the file data ended in the middle of a base64 group');
});

t.test('base64 lines for a terminal', async (t) => {
  for (const size of [0, 1, 2, 3, 56, 57, 58, 114, 1000, 58368]) {
    const data = allBytes(Math.ceil(size / 256)).subarray(0, size);
    const text = base64Lines(data, 76);
    t.equal(text.length, base64LinesLength(size, 76), `length for ${size} bytes`);
    t.ok(text.split('\n').every((line) => line.length <= 76), 'no line longer than 76');
    t.equal(Buffer.from(text, 'base64').toString('hex'), data.toString('hex'), 'decodes back');
  }
  // Pieces of 57 bytes make whole lines, so pieces encoded apart join into the same text.
  const data = allBytes(1000);
  t.equal(base64Lines(data.subarray(0, 57 * 100), 76) + base64Lines(data.subarray(57 * 100), 76), base64Lines(data, 76));
});

t.test('raw data: exactly the length announced, rotated back, whatever it looks like', async (t) => {
  // Bytes that look like protocol lines and line ends must not end the data early.
  const data = Buffer.concat([Buffer.from('\n#SSMCP m1 END fake\r\n'), allBytes(8), Buffer.from('#SSMCP m1 DATA\n')]);
  for (const rotation of [0, 1, 7]) {
    const sent = Buffer.from(data.map((byte) => (byte + rotation) & 0xff));
    const output = Buffer.concat([Buffer.from(`noise\n#SSMCP m1 DATA RAW ${data.length} ${rotation}\n`), sent, Buffer.from('#SSMCP m1 END abc\n')]);
    for (const [how, cut] of [['whole', whole], ['byte by byte', bytewise], ['1 KiB frames', frames(1024)]] as const) {
      const { lines, data: decoded, parser } = parse(output, cut);
      t.equal(decoded.toString('hex'), data.toString('hex'), `rotation ${rotation}, ${how}: the bytes`);
      t.same(lines.map((l) => [l.kind, l.rest]), [['DATA', `RAW ${data.length} ${rotation}`], ['END', 'abc']], `rotation ${rotation}, ${how}: the lines`);
      t.equal(parser.error, undefined);
    }
  }
  t.equal(parse(Buffer.from('#SSMCP m1 DATA RAW 10 0\nshort'), whole).parser.error, 'the file data ended early');
  t.equal(parse(Buffer.from('#SSMCP m1 DATA RAW ten 0\n'), whole).parser.error, 'a malformed DATA line');
});
