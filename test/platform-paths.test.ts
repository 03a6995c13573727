// The platform-dependent code paths, run here with the platform injected: which program the
// single binary runs for a name (Windows paths and .exe included), localUnixSocket on
// Windows (named pipes only) and the Unix socket path limits (104 bytes on macOS, 108 on
// Linux), Ctrl-Break on Windows, and the Windows console's size (asked directly, polled).
import t from 'tap';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { programForInvocation, programNamed } from '../src/entry/program.ts';
import { listenSpecFrom, maxUnixSocketPath } from '../src/session/port/local-listener.ts';
import { onSignals } from '../src/util/signals.ts';
import { FALLBACK_SIZE, TerminalMode } from '../src/session/terminal.ts';
import type { SessionIO } from '../src/session/io.ts';

t.test('the program is chosen by the name the binary was started as', async (t) => {
  const cases: Array<[string, string | undefined]> = [
    ['session-manager-plugin', 'session-manager-plugin'],
    ['/usr/local/bin/ssm-session', 'ssm-session'],
    ['./ssm-session', 'ssm-session'],
    ['C:\\Program Files\\ssm\\SSM-Session.EXE', 'ssm-session'],
    ['C:/tools/session-manager-plugin.exe', 'session-manager-plugin'],
    ['Z:\\tmp\\ssm-session.exe', 'ssm-session'],
    ['ssm-session-1.2.700.0', 'ssm-session'],
    ['node', undefined],
    ['/usr/bin/smp', undefined],
  ];
  for (const [name, program] of cases) t.equal(programNamed(name), program, name);
  t.equal(programForInvocation('ssm-session', '/opt/x/session-manager-plugin'), 'ssm-session', 'argv[0] first (a symbolic link keeps it)');
  t.equal(programForInvocation('custom-name', '/opt/x/ssm-session'), 'ssm-session', 'then the executable (a hard link or a renamed copy)');
  t.equal(programForInvocation('custom-name', '/opt/x/other'), 'session-manager-plugin', 'otherwise the plugin, which the AWS CLI runs');
});

t.test('localUnixSocket on Windows: a named pipe, or a clear refusal', async (t) => {
  const unix = (path: string) => ({ localConnectionType: 'unix', localUnixSocket: path });
  t.same(listenSpecFrom(unix('\\\\.\\pipe\\ssm-db'), 'win32'), { kind: 'pipe', path: '\\\\.\\pipe\\ssm-db' });
  t.same(listenSpecFrom(unix('//./pipe/ssm-db'), 'win32'), { kind: 'pipe', path: '//./pipe/ssm-db' }, 'forward slashes too');
  t.same(listenSpecFrom(unix('\\\\?\\PIPE\\x'), 'win32'), { kind: 'pipe', path: '\\\\?\\PIPE\\x' });
  for (const path of ['C:\\Users\\me\\db.sock', '/tmp/db.sock', '\\\\.\\pipe\\']) {
    t.throws(() => listenSpecFrom(unix(path), 'win32'), /Unix sockets are not available on Windows; name a pipe instead, e\.g\. \\\\\.\\pipe\\ssm-session/, path);
  }
  t.same(listenSpecFrom({ localPortNumber: '5432' }, 'win32'), { kind: 'tcp', port: 5432 }, 'TCP as anywhere');
});

t.test('Unix socket paths longer than the platform takes are refused with their length', async (t) => {
  const unix = (path: string) => ({ localConnectionType: 'unix', localUnixSocket: path });
  t.equal(maxUnixSocketPath('darwin'), 103, 'macOS: sun_path is 104 bytes with the NUL');
  t.equal(maxUnixSocketPath('linux'), 107, 'Linux: 108');
  const at = (length: number) => `/tmp/${'s'.repeat(length - 5)}`;
  t.same(listenSpecFrom(unix(at(103)), 'darwin'), { kind: 'unix', path: at(103) }, '103 bytes on macOS');
  t.throws(() => listenSpecFrom(unix(at(104)), 'darwin'), /is 104 bytes long; macOS takes at most 103: choose a shorter path/);
  t.same(listenSpecFrom(unix(at(107)), 'linux'), { kind: 'unix', path: at(107) }, '107 bytes on Linux');
  t.throws(() => listenSpecFrom(unix(at(108)), 'linux'), /is 108 bytes long; linux takes at most 107/);
  const wide = `/tmp/${'é'.repeat(50)}`; // 105 bytes in 55 characters
  t.throws(() => listenSpecFrom(unix(wide), 'darwin'), /is 105 bytes long/, 'bytes are counted, not characters');
});

t.test('Ctrl-Break on Windows is passed on as SIGINT; nothing else changes', async (t) => {
  const source = new EventEmitter();
  const seen: string[] = [];
  const stop = onSignals(['SIGINT', 'SIGTERM'], (name) => seen.push(name), 'win32', source);
  source.emit('SIGBREAK', 'SIGBREAK');
  source.emit('SIGTERM', 'SIGTERM');
  t.same(seen, ['SIGINT', 'SIGTERM']);
  stop();
  t.equal(source.listenerCount('SIGBREAK') + source.listenerCount('SIGINT') + source.listenerCount('SIGTERM'), 0, 'all listeners removed');

  const linux = new EventEmitter();
  const unlisten = onSignals(['SIGINT'], (name) => seen.push(name), 'linux', linux);
  t.equal(linux.listenerCount('SIGBREAK'), 0, 'no SIGBREAK listener elsewhere');
  unlisten();
  const noInterrupt = new EventEmitter();
  onSignals(['SIGTERM'], () => undefined, 'win32', noInterrupt);
  t.equal(noInterrupt.listenerCount('SIGBREAK'), 0, 'only where SIGINT is wanted');
});

/** A console-like stdout whose size the test sets; counts getWindowSize calls. */
function fakeConsole(cols: number, rows: number) {
  const stdout = Object.assign(new PassThrough(), {
    isTTY: true,
    columns: cols,
    rows,
    size: [cols, rows] as [number, number],
    asked: 0,
    getWindowSize(): [number, number] {
      stdout.asked++;
      return stdout.size;
    },
  });
  const stdin = Object.assign(new PassThrough(), { isTTY: true, modes: [] as boolean[], setRawMode: (raw: boolean) => stdin.modes.push(raw) });
  const io: SessionIO = { stdin, stdout, stderr: new PassThrough() };
  return { io, stdout, stdin };
}

t.test('a Windows console is asked for its size, and polled for changes Node did not report', async (t) => {
  const { io, stdout, stdin } = fakeConsole(120, 40);
  const terminal = new TerminalMode(io, { platform: 'win32', pollMs: 5 });
  stdout.size = [100, 30]; // resized without a 'resize' event; columns/rows are stale
  t.same(terminal.size(), { cols: 100, rows: 30 }, 'the console itself, not the stale columns/rows');
  terminal.enterRaw();
  terminal.restore();
  t.same(stdin.modes, [true, false], 'raw mode on and off, as on other platforms');

  const changes: Array<{ cols: number; rows: number }> = [];
  // The poll's timer is unref'd (it must never keep the program alive): this one keeps the test's.
  const alive = setInterval(() => undefined, 60_000);
  t.teardown(() => clearInterval(alive));
  let changed!: () => void;
  let next = new Promise<void>((resolve) => (changed = resolve));
  const stop = terminal.watchSize(() => {
    changes.push(terminal.size());
    changed();
  });
  stdout.size = [80, 24];
  await next;
  t.same(changes, [{ cols: 80, rows: 24 }], 'the poll found the new size');
  next = new Promise<void>((resolve) => (changed = resolve));
  stdout.emit('resize');
  await next;
  t.same(changes.at(-1), { cols: 80, rows: 24 }, "a 'resize' event is honoured too");
  stop();
  t.equal(stdout.listenerCount('resize'), 0, 'stops watching');
});

t.test('elsewhere the size comes from columns/rows and nothing polls', async (t) => {
  const { io, stdout } = fakeConsole(120, 40);
  const terminal = new TerminalMode(io, { platform: 'linux', pollMs: 5 });
  t.same(terminal.size(), { cols: 120, rows: 40 });
  const stop = terminal.watchSize(() => undefined);
  stdout.emit('resize');
  stop();
  t.equal(stdout.asked, 0, 'getWindowSize never called');
  const piped = new TerminalMode({ ...io, stdout: Object.assign(new PassThrough(), { isTTY: false }) }, { platform: 'win32' });
  t.same(piped.size(), FALLBACK_SIZE, 'not a terminal: the fallback size');
});
