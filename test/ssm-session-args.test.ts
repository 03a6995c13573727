// The pure parts of `ssm-session`: -L / -D specs, the command line, error lines and the
// status line, without processes or sessions.
import t from 'tap';
import { parseArgs } from '../src/ssm-session/args.ts';
import { UsageError, userMessage } from '../src/ssm-session/errors.ts';
import { parseLocalForward, parseSocks } from '../src/ssm-session/forward-spec.ts';
import { formatForward, formatRate, formatSessionSummary } from '../src/ssm-session/status-format.ts';
import { StatusLine, statusMode } from '../src/ssm-session/status-line.ts';

t.test('-L specs', async (t) => {
  t.same(parseLocalForward('8080:localhost:80'), { text: '8080:localhost:80', bind: '127.0.0.1', localPort: 8080, host: undefined, port: 80 }, 'localhost is the target itself, bind 127.0.0.1');
  t.same(parseLocalForward('0.0.0.0:0:db.internal:5432'), { text: '0.0.0.0:0:db.internal:5432', bind: '0.0.0.0', localPort: 0, host: 'db.internal', port: 5432 });
  t.same(parseLocalForward('[::1]:8080:[fd00::5]:443'), { text: '[::1]:8080:[fd00::5]:443', bind: '::1', localPort: 8080, host: 'fd00::5', port: 443 }, 'IPv6 on both sides, in brackets');
  t.equal(parseLocalForward('1:127.0.0.1:2').host, '127.0.0.1', '127.0.0.1 is dialled as written');
  for (const bad of ['8080', '8080:80', 'a:b:c:d:e', '8080:host:0', '70000:host:80', '8080:host:x', '[::1:8080:h:80', '::1:8080:h:80', '8080::80', '[]:1:h:2']) {
    t.throws(() => parseLocalForward(bad), UsageError, `rejects ${bad}`);
  }
});

t.test('-D specs', async (t) => {
  t.same(parseSocks('1080'), { text: '1080', bind: '127.0.0.1', port: 1080 });
  t.same(parseSocks('[::1]:0'), { text: '[::1]:0', bind: '::1', port: 0 });
  for (const bad of ['', 'x', '1:2:3', '65536']) t.throws(() => parseSocks(bad), UsageError, `rejects "${bad}"`);
});

t.test('the command line', async (t) => {
  const run = await parseArgs(['--region', 'eu-west-1', 'run', 'i-0123456789abcdef0', '--', 'ls', '-l', '/tmp'], { AWS_ENDPOINT_URL_SSM: 'http://127.0.0.1:1' }, '1.2.3.4');
  t.same(run, {
    kind: 'run',
    global: { aws: { region: 'eu-west-1', profile: undefined, endpoint: 'http://127.0.0.1:1', ecsEndpoint: undefined }, stats: false, quiet: false },
    target: 'i-0123456789abcdef0',
    command: 'ls -l /tmp',
  }, 'run: words after -- joined, endpoint from AWS_ENDPOINT_URL_SSM');
  const forward = await parseArgs(['forward', 'Name=web', '-L', '1:localhost:2', '-L', '3:h:4', '-D', '5', '--pool', '3', '--endpoint-url', 'http://e', '-q'], { AWS_ENDPOINT_URL_SSM: 'http://ignored' }, 'v');
  t.match(forward, { kind: 'forward', target: 'Name=web', pool: 3, global: { aws: { endpoint: 'http://e' }, quiet: true } }, '--endpoint-url wins over the environment');
  t.equal(forward.kind === 'forward' ? forward.idleTimeoutMs : 'x', undefined, 'idle timeout: the library default unless given');
  t.match(await parseArgs(['forward', 'i-1', '-L', '1:h:2', '--idle-timeout', '0.5'], {}, 'v'), { kind: 'forward', idleTimeoutMs: 500 });
  t.match(await parseArgs(['shell', 'ecs:c/t/x', '--ecs-shell', '/bin/bash'], {}, 'v'), { kind: 'shell', ecsShell: '/bin/bash' });
  t.notOk('ecsShell' in (await parseArgs(['shell', 'i-1'], {}, 'v')), 'no ECS shell unless given');
  t.equal(forward.kind === 'forward' ? forward.locals.length + forward.socks.length : 0, 3, 'several -L and -D');
  t.same(await parseArgs(['--version'], {}, '9.9.9.9'), { kind: 'output', text: '9.9.9.9' });
  t.match(await parseArgs(['ssh-proxy', '--help'], {}, 'v'), { kind: 'output', text: /ssh-proxy <host> <port>/ });
  // No target is no longer a mistake in itself: a terminal gets the picker, anything else
  // a usage error when the command runs (test/ssm-session-picker.test.ts).
  t.match(await parseArgs(['shell'], {}, 'v'), { kind: 'shell', target: undefined }, 'shell without a target: picked later');
  for (const bad of [[], ['run', 'i-1'], ['forward', 'i-1'], ['forward', 'i-1', '-L', '1:h:2', '--pool', '0'], ['forward', 'i-1', '-L', '1:h:2', '--idle-timeout', '-1'], ['forward', 'i-1', '-L', '1:h:2', '--idle-timeout', 'soon'], ['ssh-proxy', 'i-1', '0'], ['nope'], ['shell', 'i-1', '--bogus']]) {
    await t.rejects(parseArgs(bad, {}, 'v'), UsageError, `usage error: ${JSON.stringify(bad)}`);
  }
});

t.test('error lines', async (t) => {
  t.equal(userMessage(new Error('one\ntwo')), 'one; two', 'one line');
  t.equal(userMessage(new Error('ambiguous:\n  i-1  Online\n  i-2  Online\n')), 'ambiguous:\n  i-1  Online\n  i-2  Online', 'an indented listing is kept');
  t.equal(userMessage(new Error('bad {"TokenValue":"abc123","x":1}')), 'bad {"TokenValue":<hidden>,"x":1}', 'token fields are hidden');
  t.equal(userMessage('text'), 'text');
});

t.test('status text', async (t) => {
  t.equal(formatRate(0), '0 B/s');
  t.equal(formatRate(999), '999 B/s');
  t.equal(formatRate(1_234_567), '1.2 MB/s');
  t.equal(formatRate(45_000), '45 kB/s');
  t.equal(
    formatForward({ label: 'a->b', states: ['connected', 'connected', 'reconnecting'], activeConnections: 3, throughputDown: 2e6, throughputUp: 0, rttMs: 3.14, retransmissions: 2 }),
    'a->b [2 connected, 1 reconnecting] 3 conn down 2.0 MB/s up 0 B/s rtt 3.1 ms retx 2',
  );
  t.equal(formatForward({ label: 'x', states: [], activeConnections: 0, throughputDown: 0, throughputUp: 0, rttMs: undefined, retransmissions: 0 }), 'x [no session] 0 conn down 0 B/s up 0 B/s rtt - retx 0');
  t.equal(formatSessionSummary({ sessionId: 's-1', rttMs: 42, retransmissions: 0, bytesIn: 1500, bytesOut: 10, reconnects: 1 }), 'session s-1: rtt 42 ms, 0 retransmissions, 1.5 kB in, 10 B out, 1 reconnects');
});

t.test('status line modes and drawing', async (t) => {
  t.equal(statusMode({ write: () => true, isTTY: true }, { stats: false, quiet: false }), 'live');
  t.equal(statusMode({ write: () => true, isTTY: true }, { stats: false, quiet: true }), 'off');
  t.equal(statusMode({ write: () => true, isTTY: false }, { stats: false, quiet: false }), 'off', 'quiet by default when not a terminal');
  t.equal(statusMode({ write: () => true, isTTY: false }, { stats: true, quiet: true }), 'periodic', '--stats forces plain lines');

  let out = '';
  const tty = { write: (text: string) => (out += text), isTTY: true, columns: 12 };
  const line = new StatusLine(tty, 'live', () => 'a status far too long');
  line.update();
  t.equal(out, '\r\x1b[Ka status f…', 'live: redrawn in place, cut to the terminal width');
  out = '';
  line.message('hello');
  t.equal(out, '\r\x1b[Khello\na status f…', 'a message goes above the line, which is drawn again');
  out = '';
  line.stop();
  t.equal(out, '\r\x1b[K', 'stop clears it');

  let plain = '';
  const periodic = new StatusLine({ write: (text: string) => (plain += text) }, 'periodic', () => 'figures');
  periodic.update();
  periodic.message('note');
  periodic.stop();
  t.equal(plain, 'figures\nnote\n', 'periodic: whole lines, no control characters');
});
