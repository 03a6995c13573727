import { shCommand } from '../remote-command.ts';

/**
 * What `cp` runs on the target: small POSIX sh scripts using only what stock Linux and
 * macOS images have (sh, ls, dd, head, base64, grep, tr, df, mv, rm, chmod, stty, and
 * sha256sum, `shasum -a 256` or `openssl dgst -sha256` for hashes; busybox has them all). Each is
 * sent as `sh -c '<script>' ssm-cp <marker> <args...>` (see remote-command.ts), so the
 * agent's shlex split and a shell read the same words.
 *
 * Everything a script says to the client is a line `#SSMCP <marker> <KIND> <fields...>`;
 * file data travels as base64 lines between `DATA` and `END`. Base64 is 7-bit text: it
 * passes the agent's UTF-8 hold-back (which would corrupt raw U+FFFD sequences and drop
 * bytes held at the end of a stream), a terminal's line discipline (no control
 * characters, short lines) and CRLF line ends alike. Downloads send raw bytes instead where
 * that is safe (see READ_RANGE): a third more data per frame. Failures are
 * `ERR <code> [detail]` and exit status 3.
 *
 * The scripts contain no single quote (each stays one plain single-quoted word, easy to
 * read in the agent's logs) and no `{{`, which SSM documents would take for a parameter
 * reference.
 */

/** Files are read and written in blocks of this many bytes; ranges start on a block. */
export const BLOCK_SIZE = 4096;
/** The first word of every protocol line. */
export const LINE_TAG = '#SSMCP';
/** $0 of the scripts, which `ps` on the target shows. */
const SCRIPT_NAME = 'ssm-cp';
/** Characters per base64 line sent to a terminal (well under any canonical-mode line limit). */
export const BASE64_LINE = 76;

/** Shared functions: say, fail, hash, absolute path, checks, size/mode, error class. */
const PRELUDE = [
  'n=$1;shift',
  // say: one protocol line.
  's(){ printf "#SSMCP %s %s\\n" "$n" "$*";}',
  // fail with a code (and detail) and stop.
  'x(){ s ERR "$@";exit 3;}',
  // SHA-256 of stdin as bare hex, with whatever tool the image has.
  'H(){ if command -v sha256sum >/dev/null 2>&1;then sha256sum;elif command -v shasum >/dev/null 2>&1;then shasum -a 256;' +
    'else openssl dgst -sha256 -r;fi|{ read -r h r;echo "$h";};}',
  'command -v sha256sum >/dev/null 2>&1||command -v shasum >/dev/null 2>&1||command -v openssl >/dev/null 2>&1||x ENOHASH',
  'command -v base64 >/dev/null 2>&1||x ENOBASE64',
  // Relative paths are relative to the home directory, as with scp.
  'a(){ case $1 in /*)printf %s "$1";;*)printf %s "${HOME:-/}/$1";;esac;}',
  // size and mode string of a file (ls -l fields 5 and 1).
  'Z(){ set -f;set -- $(ls -lnLd -- "$1");printf "%s %s" "$5" "$1";}',
  // classify a tool error message, then fail with it.
  'C(){ case $1 in *"space left"*|*"No space"*)echo ENOSPC;;*"ermission denied"*|*"ot permitted"*)echo EACCES;;' +
    '*"ead-only"*)echo EROFS;;*"uota"*)echo EDQUOT;;*)echo EIO;;esac;}',
  'F(){ x "$(C "$1")" "$(printf %s "$1"|tr "\\n\\r" "  ")";}',
];

/** A readable regular file, or the reason why not. */
const READABLE = 'R(){ [ -e "$1" ]||x ENOENT;[ -d "$1" ]&&x EISDIR;[ -f "$1" ]||x ENOTREG;[ -r "$1" ]||x EACCES;}';

/**
 * Source of a download: STAT <size> <mode>, then (when asked, for a resume) RH <i> <hash>
 * for each range, then SUM <sha256> of the whole file.
 * Args: path, blocks per range (0: no range hashes), number of ranges.
 */
const STAT_SOURCE = [
  READABLE,
  'p=$(a "$1");R "$p";s STAT $(Z "$p")',
  'if [ "$2" -gt 0 ];then i=0;while [ $i -lt "$3" ];do s RH $i $(dd if="$p" bs=4096 skip=$((i*$2)) count=$2 2>/dev/null|H);i=$((i+1));done;fi',
  's SUM $(H <"$p")',
];

/**
 * One range of a download, then END <sha256 of the range>. Args: path, first block,
 * blocks, length, and how raw bytes may be sent: `raw` (a command session, no terminal),
 * `tty` (a terminal, if `stty raw` can stop it from turning LF into CRLF), or `base64`;
 * optionally the first block and blocks of a larger range this one ends, whose SHA-256
 * comes first as RH 0 <sha256> (a range tried again fetches only what it lacked, and the
 * bytes it kept are checked with that).
 *
 * Raw bytes pass the agent unchanged except one sequence: an encoded U+FFFD (EF BF BD)
 * comes out as EF alone (agent/session/shell/shell.go, processStdoutData). So, for `raw`,
 * the range is searched (grep -F) for the bytes that become EF BF BD once every byte is
 * rotated by k (tr), k = 0, 2, ... 8; the first k that leaves none wins: DATA RAW <length> <k>
 * and the rotated bytes, which the client turns back. Otherwise (or without grep):
 * DATA and base64 lines.
 */
const READ_RANGE = [
  READABLE,
  'p=$(a "$1");R "$p";o=$2;c=$3;k=-',
  '[ -n "$7" ]&&s RH 0 $(dd if="$p" bs=4096 skip="$6" count="$7" 2>/dev/null|H)',
  'g(){ dd if="$p" bs=4096 skip=$o count=$c 2>/dev/null;}',
  // (A rotation by 1 would need the one-byte range \000-\000, which GNU tr reads wrongly: 2 to 8.)
  String.raw`if [ "$5" = raw ]||{ [ "$5" = tty ]&&stty raw -echo 2>/dev/null;};then for i in 0 2 3 4 5 6 7 8;do t=$(printf "\\\\%03o\\\\%03o\\\\%03o" $(((239-i)&255)) $(((191-i)&255)) $(((189-i)&255)));` +
    String.raw`[ "$(g|LC_ALL=C grep -c -F "$(printf "$t")" 2>/dev/null)" = 0 ]&&{ k=$i;break;};done;fi`,
  String.raw`if [ "$k" = - ];then s DATA;g|base64;elif [ "$k" = 0 ];then s DATA RAW "$4" 0;g;` +
    String.raw`else s DATA RAW "$4" $k;g|LC_ALL=C tr "\\000-\\377" "$(printf "\\\\%03o-\\\\377\\\\000-\\\\%03o" $k $((k-1)))";fi`,
  's END $(g|H)',
];

/**
 * Destination of an upload: resolves it (a directory gets the local file's name), checks
 * it, reports FREE <KiB available or -> <part size or -> then DEST <path> and PART <path>,
 * fails with ENOSPC when the file cannot fit, gives RH lines for a resume when the part
 * file already has the full size, and finally makes the part file that size and says OK.
 * Args: path, size, local file name, blocks per range (0: no range hashes), number of ranges.
 */
const PREPARE_DESTINATION = [
  'd=$(a "$1");[ -d "$d" ]&&d="${d%/}/$3"',
  'case $d in */)x ENOENT;;esac',
  'f=${d##*/};r=${d%/*};[ -n "$r" ]||r=/',
  '[ -d "$r" ]||x ENOENT;[ -w "$r" ]||x EACCES',
  '[ -d "$d" ]&&x EISDIR;if [ -e "$d" ];then [ -f "$d" ]||x ENOTREG;[ -w "$d" ]||x EACCES;fi',
  't="$r/.$f.ssm-part";e=-',
  'if [ -e "$t" ];then [ -f "$t" ]||x ENOTREG;set -f;set -- "$@" $(Z "$t");e=$6;fi',
  // Free KiB from df, unless df says nothing useful (a pseudo file system has 0 blocks in all).
  'z=$2;b=$4;c=$5;set -f;set -- $(df -Pk "$r" 2>/dev/null|tail -n 1);v=${4:--};case $v$2 in *[!0-9]*|"")v=-;;esac;[ "$2" = 0 ]&&v=-',
  's FREE "$v" "$e";s DEST "$d";s PART "$t"',
  // Not enough room for the file (unless a partial copy of it is already there).
  '[ "$v" = - ]||[ "$e" = "$z" ]||[ $((v*1024)) -ge "$z" ]||x ENOSPC',
  'if [ "$e" = "$z" ]&&[ "$b" -gt 0 ];then i=0;while [ $i -lt "$c" ];do s RH $i $(dd if="$t" bs=4096 skip=$((i*b)) count=$b 2>/dev/null|H);i=$((i+1));done;fi',
  'y=$(dd if=/dev/null of="$t" bs=1 seek="$z" 2>&1)||F "$y"',
  's OK',
];

/**
 * One range of an upload, through a terminal: the terminal is made raw and silent (no
 * echo), READY says so, then exactly <length> bytes of base64 lines are read from it,
 * decoded and written at the range's block; END <sha256 of the range as written>.
 * Args: part path, first block, blocks, length of the base64 text.
 */
const WRITE_RANGE = [
  't=$1;[ -t 0 ]&&stty raw -echo 2>/dev/null',
  'if printf QQ==|base64 -d >/dev/null 2>&1;then D="base64 -d";else D="base64 -D";fi',
  's READY',
  'y=$(head -c "$4"|$D|dd of="$t" bs=4096 seek="$2" conv=notrunc 2>&1)||F "$y"',
  's END $(dd if="$t" bs=4096 skip="$2" count="$3" 2>/dev/null|H)',
];

/**
 * End of an upload: the part file must have the size and SHA-256 given; it gets the mode
 * (masked by the target's umask) and is renamed over the destination. OK <sha256>.
 * Args: part path, destination path, size, sha256, mode (octal, or empty).
 */
const COMMIT = [
  't=$1;d=$2;set -f;set -- "$3" "$4" "$5" $(ls -lnd -- "$t");[ "$8" = "$1" ]||x ESIZE "$8"',
  'h=$(H <"$t");[ "$h" = "$2" ]||x EHASH "$h"',
  '[ -n "$3" ]&&chmod $(printf %o $(($3&~0$(umask)))) "$t" 2>/dev/null',
  'y=$(mv -f "$t" "$d" 2>&1)||F "$y"',
  's OK "$h"',
];

/** Removes an upload's part file. Args: part path. */
const REMOVE_PART = ['rm -f -- "$1";s OK'];

function script(lines: readonly string[]): string {
  const text = [...PRELUDE, ...lines].join(';');
  if (text.includes("'") || text.includes('{{')) throw new RangeError('a copy script must hold no single quote and no {{');
  return text;
}

/** How a range may come down: raw bytes (command session), raw through a terminal made raw, or base64 only. */
export type RawMode = 'raw' | 'tty' | 'base64';

/** The command for each operation, given the marker that tags its protocol lines. */
export const remoteCommands = {
  statSource: (marker: string, path: string, rangeBlocks: number, ranges: number): string =>
    shCommand(script(STAT_SOURCE), SCRIPT_NAME, [marker, path, String(rangeBlocks), String(ranges)]),
  readRange: (marker: string, path: string, firstBlock: number, blocks: number, length: number, raw: RawMode, whole?: { firstBlock: number; blocks: number }): string =>
    shCommand(script(READ_RANGE), SCRIPT_NAME, [
      marker,
      path,
      String(firstBlock),
      String(blocks),
      String(length),
      raw,
      ...(whole ? [String(whole.firstBlock), String(whole.blocks)] : []),
    ]),
  prepareDestination: (marker: string, path: string, size: number, name: string, rangeBlocks: number, ranges: number): string =>
    shCommand(script(PREPARE_DESTINATION), SCRIPT_NAME, [marker, path, String(size), name, String(rangeBlocks), String(ranges)]),
  writeRange: (marker: string, partPath: string, firstBlock: number, blocks: number, encodedLength: number): string =>
    shCommand(script(WRITE_RANGE), SCRIPT_NAME, [marker, partPath, String(firstBlock), String(blocks), String(encodedLength)]),
  commit: (marker: string, partPath: string, path: string, size: number, sha256: string, mode: string): string =>
    shCommand(script(COMMIT), SCRIPT_NAME, [marker, partPath, path, String(size), sha256, mode]),
  removePart: (marker: string, partPath: string): string => shCommand(script(REMOVE_PART), SCRIPT_NAME, [marker, partPath]),
};

export type RemoteCommands = typeof remoteCommands;
