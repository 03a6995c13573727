const TILDE = 0x7e;
const DOT = 0x2e;
const CR = 0x0d;
const LF = 0x0a;

export interface FilteredInput {
  /** Bytes to send to the remote side. */
  data: Buffer;
  /** The user typed `~.` at the start of a line. */
  disconnect: boolean;
}

/**
 * ssh-style escapes on interactive input: at the start of a line, `~.` ends the session
 * locally (even when the connection hangs) and `~~` sends one `~`. Any other character
 * after `~` is sent with the `~`, so nothing typed is lost.
 */
export class EscapeFilter {
  private atLineStart = true;
  private pendingTilde = false;

  filter(input: Buffer): FilteredInput {
    if (!this.pendingTilde && !input.includes(TILDE)) {
      if (input.length > 0) this.atLineStart = isNewline(input[input.length - 1]!);
      return { data: input, disconnect: false };
    }
    const out: number[] = [];
    for (const byte of input) {
      if (this.pendingTilde) {
        this.pendingTilde = false;
        if (byte === DOT) return { data: Buffer.from(out), disconnect: true };
        if (byte !== TILDE) out.push(TILDE);
        out.push(byte);
        this.atLineStart = isNewline(byte);
        continue;
      }
      if (byte === TILDE && this.atLineStart) {
        this.pendingTilde = true;
        continue;
      }
      out.push(byte);
      this.atLineStart = isNewline(byte);
    }
    return { data: Buffer.from(out), disconnect: false };
  }
}

function isNewline(byte: number): boolean {
  return byte === CR || byte === LF;
}
