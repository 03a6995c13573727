// What `cp` runs on the target, without any agent in between, as the real agent runs it:
// the command is split by the real github.com/google/shlex and the words are executed
// with no shell around them (agent/session/shell/shell_unix.go, StartCommandExecutor:
// NonInteractiveCommands, and everything in container mode). Each script is run under
// dash (Debian's sh, coreutils) and under busybox with nothing but its applets on PATH (an
// Alpine container), also with sha256sum missing (shasum, openssl, or nothing at all).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { OutputParser, base64Lines, type ProtocolLine } from '../src/client/copy/output-parser.ts';
import { remoteCommands } from '../src/client/copy/remote-scripts.ts';
import { findOnPath } from './helpers/aws-cli-sandbox.ts';
import { buildShlexDriver } from './helpers/go-shlex.ts';

const MARKER = '0123abcd';
const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const BUSYBOX = findOnPath('busybox');
const SETPRIV = findOnPath('setpriv');

interface Userland {
  name: string;
  /** PATH for the script. */
  path: string;
  /** The `sh` the agent's exec finds on that PATH. */
  sh: string;
}

/** A directory of busybox applets (minus `without`), plus links to `extra` host tools. */
function busyboxLand(dir: string, name: string, without: string[], extra: string[]): Userland {
  const bin = path.join(dir, name);
  mkdirSync(bin);
  const applets = spawnSync(BUSYBOX as string, ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  for (const applet of applets) if (!without.includes(applet)) symlinkSync(BUSYBOX as string, path.join(bin, applet));
  for (const tool of extra) symlinkSync(findOnPath(tool) as string, path.join(bin, tool));
  return { name, path: bin, sh: path.join(bin, 'sh') };
}

interface Run {
  status: number | null;
  lines: ProtocolLine[];
  data: Buffer;
  stderr: string;
  noise: string;
}

t.test('scripts', async (t) => {
  const driver = buildShlexDriver();
  if ('missing' in driver) {
    t.fail(driver.missing);
    return;
  }
  t.teardown(driver.cleanup);
  const dir = mkdtempSync(path.join(tmpdir(), 'cp-scripts-'));
  chmodSync(dir, 0o755); // another user (below) may look inside
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  /** Splits the command as the agent does and runs the words, without a shell. */
  const exec = (land: Userland, command: string, input?: Buffer | string, asNobody = false): Run => {
    const [split] = driver.split([command]);
    t.equal(split?.error, undefined, 'shlex splits it without error');
    const words = split?.words ?? [];
    t.same(words.slice(0, 2), ['sh', '-c'], 'shlex gives sh -c ...');
    t.equal(words[3], 'ssm-cp', '... the script as one word, then $0');
    const sh = land.sh;
    const argv = asNobody ? [SETPRIV, ['--reuid=65534', '--regid=65534', '--clear-groups', sh, ...words.slice(1)]] : [sh, words.slice(1)];
    const run = spawnSync(argv[0] as string, argv[1] as string[], {
      env: { PATH: land.path, HOME: dir, LANG: 'C.UTF-8' },
      input,
      maxBuffer: 64 * 1024 * 1024,
    });
    const lines: ProtocolLine[] = [];
    const data: Buffer[] = [];
    const parser = new OutputParser(MARKER, { line: (line) => lines.push(line), data: (chunk) => data.push(chunk) });
    parser.write(run.stdout);
    parser.end();
    return { status: run.status, lines, data: Buffer.concat(data), stderr: run.stderr.toString(), noise: parser.noise };
  };
  const said = (run: Run, kind: string): string[][] => run.lines.filter((l) => l.kind === kind).map((l) => l.fields);

  const lands: Userland[] = [{ name: 'dash and coreutils', path: '/usr/bin:/bin', sh: '/bin/sh' }];
  if (BUSYBOX) {
    lands.push(busyboxLand(dir, 'busybox', [], []));
    // The fallbacks, where this machine has them (perl's shasum, openssl).
    if (findOnPath('shasum') && findOnPath('perl')) lands.push(busyboxLand(dir, 'busybox with shasum', ['sha256sum'], ['shasum', 'perl']));
    if (findOnPath('openssl')) lands.push(busyboxLand(dir, 'busybox with openssl', ['sha256sum'], ['openssl']));
  } else {
    t.fail('busybox is not installed (.ci/run installs it): the Alpine-like userland is not tested');
  }

  for (const land of lands) {
    t.test(land.name, async (t) => {
      const work = mkdtempSync(path.join(dir, 'work-'));
      chmodSync(work, 0o755);
      // Every byte value, an encoded U+FFFD (which the agent's UTF-8 handling would damage
      // raw), and a name with a space, quotes, a dollar sign and non-ASCII.
      const data = Buffer.concat([Buffer.alloc(6000, 0xef), ...Array.from({ length: 40 }, (_, i) => Buffer.from([...Array(256).keys()].map((b) => (b + i) % 256))), Buffer.from('\xef\xbf\xbd', 'latin1')]);
      const source = path.join(work, `it's a $file "é".bin`);
      writeFileSync(source, data, { mode: 0o640 });
      const blocks = 2; // 8 KiB ranges
      const ranges = Math.ceil(data.length / 8192);

      const stat = exec(land, remoteCommands.statSource(MARKER, source, blocks, ranges));
      t.equal(stat.status, 0, 'stat: exit 0', { stderr: stat.stderr, noise: stat.noise });
      t.same(said(stat, 'STAT'), [[String(data.length), '-rw-r-----']], 'size and mode');
      t.same(
        said(stat, 'RH'),
        Array.from({ length: ranges }, (_, i) => [String(i), sha(data.subarray(i * 8192, (i + 1) * 8192))]),
        'a SHA-256 per range',
      );
      t.same(said(stat, 'SUM'), [[sha(data)]], 'the whole SHA-256 last');

      const second = data.subarray(8192, 16384);
      const read = exec(land, remoteCommands.readRange(MARKER, source, 2, 2, second.length, 'base64'));
      t.equal(read.status, 0, 'read: exit 0');
      t.same(said(read, 'DATA'), [[]], 'base64 when raw bytes are not asked for');
      t.equal(read.data.toString('hex'), second.toString('hex'), 'the range, base64 decoded');
      t.same(said(read, 'END'), [[sha(second)]], 'and its SHA-256');
      // Raw: the second range ends in EF BF BD, which the agent would damage, so its bytes
      // come rotated by 2 (nothing in it becomes EF BF BD then); the first has none.
      const rotated = exec(land, remoteCommands.readRange(MARKER, source, 2, 2, second.length, 'raw'));
      t.same(said(rotated, 'DATA'), [['RAW', String(second.length), '2']], 'raw, rotated by two');
      t.equal(rotated.data.toString('hex'), second.toString('hex'), 'turned back, the same bytes');
      t.same(said(rotated, 'END'), [[sha(second)]]);
      const first = data.subarray(0, 8192);
      const plain = exec(land, remoteCommands.readRange(MARKER, source, 0, 2, first.length, 'raw'));
      t.same(said(plain, 'DATA'), [['RAW', String(first.length), '0']], 'raw as it is');
      t.equal(plain.data.toString('hex'), first.toString('hex'));
      const tail = exec(land, remoteCommands.readRange(MARKER, source, 3, 1, 4096, 'base64', { firstBlock: 2, blocks: 2 }));
      t.same(said(tail, 'RH'), [['0', sha(second)]], 'the rest of a range: first the SHA-256 of the whole range');
      t.equal(tail.data.toString('hex'), second.subarray(4096).toString('hex'), 'then only its last block');
      t.same(said(tail, 'END'), [[sha(second.subarray(4096))]]);
      const noTerminal = exec(land, remoteCommands.readRange(MARKER, source, 0, 2, first.length, 'tty'));
      t.same(said(noTerminal, 'DATA'), [[]], 'tty: base64 when there is no terminal to make raw');
      t.equal(noTerminal.data.toString('hex'), first.toString('hex'));

      const relative = exec(land, remoteCommands.statSource(MARKER, path.relative(dir, source), 0, 0));
      t.same(said(relative, 'SUM'), [[sha(data)]], 'a relative path is under $HOME');

      // Upload into a directory: the part file, ranges typed in (not a terminal here), commit.
      const into = path.join(work, 'into dir');
      mkdirSync(into);
      const prepared = exec(land, remoteCommands.prepareDestination(MARKER, `${into}/`, data.length, 'up.bin', blocks, ranges));
      t.equal(prepared.status, 0, 'prepare: exit 0', { noise: prepared.noise });
      const destination = path.join(into, 'up.bin');
      const part = path.join(into, '.up.bin.ssm-part');
      t.same(said(prepared, 'DEST'), [[...destination.split(' ')]]);
      t.equal(prepared.lines.find((l) => l.kind === 'PART')?.rest, part, 'the part file next to the destination');
      t.match(said(prepared, 'FREE'), [[/^\d+$/, '-']], 'free KiB; no part file yet');
      t.same(said(prepared, 'RH'), [], 'no part file, no range hashes');
      t.equal(statSync(part).size, data.length, 'the part file has the final size');
      for (let i = 0; i < ranges; i++) {
        const slice = data.subarray(i * 8192, (i + 1) * 8192);
        const text = base64Lines(slice, 76);
        const written = exec(land, remoteCommands.writeRange(MARKER, part, i * blocks, blocks, text.length), text);
        t.equal(written.status, 0, `range ${i}: exit 0`, { noise: written.noise, stderr: written.stderr });
        t.same(said(written, 'READY'), [[]], 'READY before the data');
        t.same(said(written, 'END'), [[sha(slice)]], `range ${i}: the SHA-256 of what was written`);
      }
      const again = exec(land, remoteCommands.prepareDestination(MARKER, destination, data.length, 'x', blocks, ranges));
      t.same(
        said(again, 'RH'),
        Array.from({ length: ranges }, (_, i) => [String(i), sha(data.subarray(i * 8192, (i + 1) * 8192))]),
        'a part file of the full size: range hashes for a resume',
      );
      const wrong = exec(land, remoteCommands.commit(MARKER, part, destination, data.length, sha(Buffer.from('x')), '0750'));
      t.equal(wrong.status, 3, 'commit with another SHA-256: exit 3');
      t.same(said(wrong, 'ERR'), [['EHASH', sha(data)]], 'EHASH and the SHA-256 found');
      t.notOk(existsSync(destination), 'nothing under the final name');
      const committed = exec(land, remoteCommands.commit(MARKER, part, destination, data.length, sha(data), '0750'));
      t.same(said(committed, 'OK'), [[sha(data)]], 'commit: OK and the SHA-256');
      t.equal(sha(readFileSync(destination)), sha(data), 'the file is in place');
      t.notOk(existsSync(part), 'the part file is gone');
      t.equal(statSync(destination).mode & 0o777, 0o750 & ~process.umask(), 'the mode, masked by the umask');

      // An empty file.
      const empty = path.join(work, 'empty');
      writeFileSync(empty, '');
      const emptyStat = exec(land, remoteCommands.statSource(MARKER, empty, 0, 0));
      t.same([said(emptyStat, 'STAT')[0]?.[0], said(emptyStat, 'SUM')], ['0', [[sha(Buffer.alloc(0))]]], 'an empty file');

      // Refusals.
      const code = (run: Run): string | undefined => said(run, 'ERR')[0]?.[0];
      t.equal(code(exec(land, remoteCommands.statSource(MARKER, path.join(work, 'missing'), 0, 0))), 'ENOENT');
      t.equal(code(exec(land, remoteCommands.statSource(MARKER, work, 0, 0))), 'EISDIR');
      t.equal(code(exec(land, remoteCommands.statSource(MARKER, '/dev/null', 0, 0))), 'ENOTREG');
      t.equal(code(exec(land, remoteCommands.prepareDestination(MARKER, path.join(work, 'no/such/dir/x'), 1, 'x', 0, 0))), 'ENOENT');
      t.equal(code(exec(land, remoteCommands.prepareDestination(MARKER, '/sys/', 1, 'x', 0, 0))), 'EACCES', 'a directory that takes no files');
      t.equal(code(exec(land, remoteCommands.prepareDestination(MARKER, path.join(work, 'huge'), 2 ** 60, 'x', 0, 0))), 'ENOSPC', 'more than the disk holds');
      if (process.getuid?.() === 0 && SETPRIV) {
        const secret = path.join(work, 'secret');
        writeFileSync(secret, 'x', { mode: 0o600 });
        t.equal(code(exec(land, remoteCommands.statSource(MARKER, secret, 0, 0), undefined, true)), 'EACCES', 'another user cannot read it');
        t.equal(code(exec(land, remoteCommands.prepareDestination(MARKER, path.join(work, 'x'), 1, 'x', 0, 0), undefined, true)), 'EACCES', 'nor write here');
      }
      const removed = exec(land, remoteCommands.removePart(MARKER, path.join(into, '.gone.ssm-part')));
      t.same(said(removed, 'OK'), [[]], 'removing a part file that is not there is fine');
    });
  }

  if (BUSYBOX) {
    t.test('no SHA-256 tool at all: refused before anything else', async (t) => {
      const land = busyboxLand(dir, 'busybox without hashes', ['sha256sum'], []);
      const run = exec(land, remoteCommands.statSource(MARKER, '/etc/hostname', 0, 0));
      t.equal(run.status, 3);
      t.same(said(run, 'ERR'), [['ENOHASH']]);
    });
  }
});

t.test('the scripts hold nothing that breaks their quoting or SSM parameters', async (t) => {
  const commands = [
    remoteCommands.statSource('m', 'p', 1, 1),
    remoteCommands.readRange('m', 'p', 1, 1, 1, 'tty'),
    remoteCommands.prepareDestination('m', 'p', 1, 'n', 1, 1),
    remoteCommands.writeRange('m', 'p', 1, 1, 1),
    remoteCommands.commit('m', 'p', 'd', 1, 'h', '0644'),
    remoteCommands.removePart('m', 'p'),
  ];
  for (const command of commands) {
    const script = /^sh -c '([^']*)' /.exec(command)?.[1];
    t.ok(script, 'sh -c and one single-quoted script');
    t.notOk(script?.includes('{{'), 'no {{ (SSM parameter syntax)');
    t.ok(command.length < 2048, `short: ${command.length} characters`);
  }
});
