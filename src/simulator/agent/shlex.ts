/**
 * Word splitting as the agent does it for NonInteractiveCommands and container-mode
 * commands (agent/session/shell/shell_unix.go): github.com/google/shlex `Split` at the
 * commit the agent vendors (e7afc7f). Written from that lexer's rules, which are not
 * POSIX shell rules:
 *
 * - words are separated by space, tab, CR and LF;
 * - `'...'` is literal; in `"..."` a backslash escapes any next character (the backslash
 *   goes); outside quotes a backslash escapes any next character, a newline included;
 * - `#` starts a comment only where a word could start; the comment runs to the next LF;
 * - `$`, `;`, `&`, `|`, `>`, `<`, `*`, backquotes are ordinary characters;
 * - an unclosed quote or a trailing backslash is an error; the words before the one being
 *   read are returned with it (the agent only uses the error).
 *
 * Invalid UTF-16 (a lone surrogate) counts as U+FFFD, as Go reads invalid UTF-8.
 */

export interface ShlexResult {
  words: string[];
  /** The lexer's error text, exactly as Go's (the agent puts it in its error message). */
  error?: string;
}

export const SHLEX_EOF_AFTER_ESCAPE = 'EOF found after escape character';
export const SHLEX_EOF_IN_QUOTE = 'EOF found when expecting closing quote';

type RuneClass = 'space' | 'escapingQuote' | 'nonEscapingQuote' | 'escape' | 'comment' | 'other' | 'eof';
type State = 'start' | 'word' | 'escaping' | 'escapingQuoted' | 'quotingEscaping' | 'quoting' | 'comment';

function classify(rune: string | undefined): RuneClass {
  switch (rune) {
    case undefined:
      return 'eof';
    case ' ':
    case '\t':
    case '\r':
    case '\n':
      return 'space';
    case '"':
      return 'escapingQuote';
    case "'":
      return 'nonEscapingQuote';
    case '\\':
      return 'escape';
    case '#':
      return 'comment';
    default:
      return 'other';
  }
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** One token of the lexer: a word or a comment, or the error that ended the input. */
type Token = { kind: 'word' | 'comment'; value: string } | { kind: 'eof' } | { kind: 'error'; message: string };

class Tokenizer {
  private readonly runes: string[];
  private index = 0;

  constructor(input: string) {
    this.runes = Array.from(input.replace(LONE_SURROGATE, '\ufffd'));
  }

  next(): Token {
    let state: State = 'start';
    let kind: 'word' | 'comment' = 'word';
    let value = '';
    for (;;) {
      const rune = this.runes[this.index++];
      const runeClass = classify(rune);
      const char = rune ?? '';
      switch (state) {
        case 'start':
          if (runeClass === 'eof') return { kind: 'eof' };
          if (runeClass === 'space') break;
          if (runeClass === 'escapingQuote') state = 'quotingEscaping';
          else if (runeClass === 'nonEscapingQuote') state = 'quoting';
          else if (runeClass === 'escape') state = 'escaping';
          else if (runeClass === 'comment') {
            kind = 'comment';
            state = 'comment';
          } else {
            value += char;
            state = 'word';
          }
          break;
        case 'word':
          if (runeClass === 'eof' || runeClass === 'space') return { kind, value };
          if (runeClass === 'escapingQuote') state = 'quotingEscaping';
          else if (runeClass === 'nonEscapingQuote') state = 'quoting';
          else if (runeClass === 'escape') state = 'escaping';
          else value += char;
          break;
        case 'escaping':
        case 'escapingQuoted':
          if (runeClass === 'eof') return { kind: 'error', message: SHLEX_EOF_AFTER_ESCAPE };
          value += char;
          state = state === 'escaping' ? 'word' : 'quotingEscaping';
          break;
        case 'quotingEscaping':
          if (runeClass === 'eof') return { kind: 'error', message: SHLEX_EOF_IN_QUOTE };
          if (runeClass === 'escapingQuote') state = 'word';
          else if (runeClass === 'escape') state = 'escapingQuoted';
          else value += char;
          break;
        case 'quoting':
          if (runeClass === 'eof') return { kind: 'error', message: SHLEX_EOF_IN_QUOTE };
          if (runeClass === 'nonEscapingQuote') state = 'word';
          else value += char;
          break;
        case 'comment':
          if (runeClass === 'eof') return { kind, value };
          if (char === '\n') return { kind, value };
          value += char;
          break;
      }
    }
  }
}

/** google/shlex `Split`: the words, and the error when the input ends inside a quote or escape. */
export function shlexSplit(input: string): ShlexResult {
  const tokenizer = new Tokenizer(input);
  const words: string[] = [];
  for (;;) {
    const token = tokenizer.next();
    if (token.kind === 'eof') return { words };
    if (token.kind === 'error') return { words, error: token.message };
    if (token.kind === 'word') words.push(token.value);
  }
}
