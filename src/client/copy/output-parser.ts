import { LINE_TAG } from './remote-scripts.ts';

/** A `#SSMCP <marker> <kind> ...` line from a target-side script. */
export interface ProtocolLine {
  kind: string;
  /** The words after the kind. */
  fields: string[];
  /** Everything after the kind and one space (paths may hold spaces). */
  rest: string;
}

export interface OutputParserEvents {
  line(line: ProtocolLine): void;
  /** Decoded file bytes between DATA and END. */
  data(chunk: Buffer): void;
}

const NEWLINE = 0x0a;
const CR = 0x0d;
const HASH = 0x23;
/** Lines other than protocol lines (a shell's complaint, a KMS notice) kept for error messages. */
const NOISE_LIMIT = 4096;
/** A protocol line longer than this is not one of ours. */
const LINE_LIMIT = 64 * 1024;
const BASE64_LINES = /^[A-Za-z0-9+/=\r\n]*$/;
const LINE_ENDS = /[\r\n]+/g;
/** A line break followed by a protocol line: where a run of data lines ends. */
const LINE_THEN_TAG = Buffer.from('\n#');

type LineKind = 'control' | 'data' | 'text';

/**
 * Reads a script's output as it arrives, in chunks cut anywhere: protocol lines, base64
 * data lines (decoded as they stream, even when one line is megabytes long), and other
 * text. Carriage returns are ignored, so a terminal's CRLF line ends read like LF.
 */
export class OutputParser {
  private readonly prefix: string;
  private readonly events: OutputParserEvents;
  private lineKind: LineKind | undefined;
  private lineParts: Buffer[] = [];
  private lineLength = 0;
  private inData = false;
  private carry = '';
  /** Raw bytes still to come after `DATA RAW <length> <k>`, and the table that turns them back. */
  private rawLeft = 0;
  private unrotate: Buffer | undefined;
  private noiseText = '';
  /** Set when the output broke the protocol (bad base64, an overlong line). */
  private failure: string | undefined;

  constructor(marker: string, events: OutputParserEvents) {
    this.prefix = `${LINE_TAG} ${marker} `;
    this.events = events;
  }

  /** What else the output said, for error messages. */
  get noise(): string {
    return this.noiseText.trim();
  }

  get error(): string | undefined {
    return this.failure;
  }

  get decoding(): boolean {
    return this.inData;
  }

  write(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && this.failure === undefined) {
      if (this.rawLeft > 0) {
        pos = this.rawBytes(chunk, pos);
        continue;
      }
      if (this.lineKind === undefined) {
        while (pos < chunk.length && chunk[pos] === CR) pos++;
        if (pos >= chunk.length) return;
        this.lineKind = chunk[pos] === HASH ? 'control' : this.inData ? 'data' : 'text';
      }
      if (this.lineKind === 'data') {
        pos = this.dataLines(chunk, pos);
        continue;
      }
      const newline = chunk.indexOf(NEWLINE, pos);
      const end = newline === -1 ? chunk.length : newline;
      this.take(chunk.subarray(pos, end));
      if (newline === -1) return;
      this.finishLine();
      pos = newline + 1;
    }
  }

  /**
   * Base64 lines from `pos` up to the next protocol line (or the chunk's end), decoded in
   * one go: a frame holds about a dozen of them. Returns where the next line starts.
   */
  private dataLines(chunk: Buffer, pos: number): number {
    const next = chunk.indexOf(LINE_THEN_TAG, pos);
    const end = next === -1 ? chunk.length : next + 1;
    this.decode(chunk.subarray(pos, end));
    if (next === -1 && chunk[chunk.length - 1] !== NEWLINE) return end; // still inside a line
    this.lineKind = undefined;
    return end;
  }

  /** The output is over: a line without its newline still counts. */
  end(): void {
    if (this.lineKind !== undefined) this.finishLine();
    if ((this.inData || this.rawLeft > 0) && this.failure === undefined) this.failure = 'the file data ended early';
  }

  /** Raw file bytes, rotated back; a protocol line follows them directly. */
  private rawBytes(chunk: Buffer, pos: number): number {
    const end = Math.min(chunk.length, pos + this.rawLeft);
    const data = Buffer.from(chunk.subarray(pos, end)); // a copy: the chunk is not ours to keep
    const table = this.unrotate;
    if (table) for (let i = 0; i < data.length; i++) data[i] = table[data[i] as number] as number;
    this.rawLeft -= data.length;
    this.events.data(data);
    return end;
  }

  private take(segment: Buffer): void {
    if (segment.length === 0) return;
    this.lineLength += segment.length;
    if (this.lineKind === 'control' && this.lineLength > LINE_LIMIT) {
      this.failure = 'an overlong line in the output';
      return;
    }
    if (this.lineKind === 'control' || (this.lineLength <= NOISE_LIMIT && this.noiseText.length < NOISE_LIMIT)) this.lineParts.push(segment);
  }

  private finishLine(): void {
    const kind = this.lineKind;
    this.lineKind = undefined;
    this.lineLength = 0;
    if (kind === 'data') return;
    const text = Buffer.concat(this.lineParts).toString('utf8').replace(/\r+$/, '');
    this.lineParts = [];
    if (kind === 'control' && text.startsWith(this.prefix)) {
      this.control(text.slice(this.prefix.length));
      return;
    }
    if (this.noiseText.length < NOISE_LIMIT) this.noiseText += `${text}\n`.slice(0, NOISE_LIMIT - this.noiseText.length);
  }

  private control(body: string): void {
    const space = body.indexOf(' ');
    const kind = space === -1 ? body : body.slice(0, space);
    const rest = space === -1 ? '' : body.slice(space + 1);
    const fields = rest.split(' ').filter((word) => word !== '');
    if (kind === 'DATA' && fields[0] === 'RAW') {
      const length = Number(fields[1]);
      const rotation = Number(fields[2] ?? 0);
      if (!Number.isSafeInteger(length) || length < 0 || !Number.isInteger(rotation) || rotation < 0 || rotation > 255) {
        this.failure = 'a malformed DATA line';
        return;
      }
      this.rawLeft = length;
      this.unrotate = rotation === 0 ? undefined : Buffer.from(Array.from({ length: 256 }, (_, byte) => (byte - rotation) & 0xff));
    } else if (kind === 'DATA') {
      this.inData = true;
      this.carry = '';
    } else if (kind === 'END' && this.inData) {
      this.inData = false;
      if (this.carry.length > 0) {
        this.failure = 'the file data ended in the middle of a base64 group';
        return;
      }
    }
    this.events.line({ kind, fields, rest });
  }

  /** Base64 text (lines, or part of one), decoded in whole groups of four. */
  private decode(segment: Buffer): void {
    let text = segment.toString('latin1');
    if (!BASE64_LINES.test(text)) {
      this.failure = 'unexpected text in the file data';
      return;
    }
    text = text.replace(LINE_ENDS, '');
    const all = this.carry + text;
    const whole = all.length - (all.length % 4);
    this.carry = all.slice(whole);
    if (whole > 0) this.events.data(Buffer.from(all.slice(0, whole), 'base64'));
  }
}

/** Base64 of `data` in lines of `lineLength` characters, each ending in LF. */
export function base64Lines(data: Buffer, lineLength: number): string {
  const text = data.toString('base64');
  let out = '';
  for (let i = 0; i < text.length; i += lineLength) out += `${text.slice(i, i + lineLength)}\n`;
  return out;
}

/** Length of base64Lines() for `bytes` bytes of data, without making it. */
export function base64LinesLength(bytes: number, lineLength: number): number {
  const chars = Math.ceil(bytes / 3) * 4;
  return chars + Math.ceil(chars / lineLength);
}
