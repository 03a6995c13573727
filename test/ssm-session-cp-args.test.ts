// How `cp` and `list` read their command line: which side of cp is on a target (scp's
// colon rule, plus the ecs: and tag: forms that hold colons of their own), sizes, filters.
import t from 'tap';
import { parseArgs } from '../src/ssm-session/args.ts';
import { copyDirection, parseCopySide, parseSize } from '../src/ssm-session/copy-spec.ts';
import { UsageError } from '../src/ssm-session/errors.ts';
import { parseListFilters } from '../src/ssm-session/list-filter.ts';
import { formatCopy, formatDuration } from '../src/ssm-session/status-format.ts';

t.test('TARGET:PATH or a local path', async (t) => {
  const cases: Array<[string, ReturnType<typeof parseCopySide>]> = [
    ['i-0123456789abcdef0:/var/log/app.log', { kind: 'remote', target: 'i-0123456789abcdef0', path: '/var/log/app.log' }],
    ['i-0123456789abcdef0:', { kind: 'remote', target: 'i-0123456789abcdef0', path: '' }],
    ['Name=web:notes.txt', { kind: 'remote', target: 'Name=web', path: 'notes.txt' }],
    ['tag:Role=db:/tmp/x', { kind: 'remote', target: 'tag:Role=db', path: '/tmp/x' }],
    ['ecs:prod/0123abc/web:/tmp/a:b', { kind: 'remote', target: 'ecs:prod/0123abc/web', path: '/tmp/a:b' }],
    ['ecs:prod_task_1234-5678:/x', { kind: 'remote', target: 'ecs:prod_task_1234-5678', path: '/x' }],
    [':/tmp/x', { kind: 'remote', target: '', path: '/tmp/x' }],
    ['./a:b', { kind: 'local', path: './a:b' }],
    ['/abs/a:b', { kind: 'local', path: '/abs/a:b' }],
    ['plain', { kind: 'local', path: 'plain' }],
    ['C:\\Users\\me\\f.txt', { kind: 'local', path: 'C:\\Users\\me\\f.txt' }],
  ];
  for (const [text, expected] of cases) t.same(parseCopySide(text), expected, text);
  t.throws(() => parseCopySide('ecs:prod/task'), UsageError, 'ecs: without :PATH');

  t.same(copyDirection('i-0123456789abcdef0:/a', '.'), { direction: 'download', target: 'i-0123456789abcdef0', remotePath: '/a', localPath: '.' });
  t.same(copyDirection('f', ':x'), { direction: 'upload', target: undefined, remotePath: 'x', localPath: 'f' }, 'no target: the picker');
  t.throws(() => copyDirection('a', 'b'), UsageError);
  t.throws(() => copyDirection('i-1:/a', 'Name=x:/b'), UsageError);
});

t.test('sizes', async (t) => {
  t.same([parseSize('65536', 'x'), parseSize('64K', 'x'), parseSize('8m', 'x'), parseSize('1G', 'x'), parseSize('4KiB', 'x')], [65536, 65536, 8 * 1024 ** 2, 1024 ** 3, 4096]);
  for (const bad of ['10', '0', '2G', 'lots', '-8M', '1.5M']) t.throws(() => parseSize(bad, '--range-size'), UsageError, bad);
});

t.test('list filters', async (t) => {
  t.same(parseListFilters(['tag:Role=db', 'Name=web', 'Role=cache', 'tag-key=Owner', 'PingStatus=Online,ConnectionLost', 'tag:K=a=b']), [
    { key: 'tag:Role', values: ['db', 'cache'] },
    { key: 'tag:Name', values: ['web'] },
    { key: 'tag-key', values: ['Owner'] },
    { key: 'PingStatus', values: ['Online', 'ConnectionLost'] },
    { key: 'tag:K', values: ['a=b'] },
  ]);
  for (const bad of ['nonsense', '=x', 'tag:K=']) t.throws(() => parseListFilters([bad]), UsageError, bad);
});

t.test('the command lines', async (t) => {
  t.match(await parseArgs(['cp', '--pool', '3', '--range-size', '1M', '--no-resume', 'f', 'i-0123456789abcdef0:/tmp/'], {}, 'v'), {
    kind: 'cp',
    direction: 'upload',
    target: 'i-0123456789abcdef0',
    remotePath: '/tmp/',
    localPath: 'f',
    pool: 3,
    rangeSize: 1024 * 1024,
    resume: false,
  });
  const defaults = await parseArgs(['cp', 'Name=web:x', 'y'], { AWS_ENDPOINT_URL_EC2: 'http://ec2' }, 'v');
  t.match(defaults, { kind: 'cp', pool: 8, resume: true, global: { aws: { ec2Endpoint: 'http://ec2' } } });
  t.notOk('rangeSize' in defaults, 'the range size is the library default');
  t.match(await parseArgs(['list', '--json', '--filter', 'Name=web'], {}, 'v'), { kind: 'list', json: true, filters: [{ key: 'tag:Name', values: ['web'] }] });
  t.match(await parseArgs(['forward', '-L', '1:h:2'], {}, 'v'), { kind: 'forward', target: undefined });
  for (const bad of [['cp', 'a'], ['cp', '-r', 'a', 'i-1:/b'], ['list', 'extra']]) await t.rejects(parseArgs(bad, {}, 'v'), UsageError, JSON.stringify(bad));
});

t.test('the copy status line', async (t) => {
  const figures = { name: 'app.log', stage: 'transferring', bytesDone: 28_800_000, bytesTotal: 64_000_000, rate: 5_100_000, sessions: 8 };
  t.equal(formatCopy(figures, false), 'app.log 45% 29 MB of 64 MB 5.1 MB/s ETA 7s 8 sessions', 'a terminal: rounded, with the time left');
  t.equal(formatCopy({ ...figures, stage: 'verifying', sessions: 1 }, true), 'app.log 45% 28800000 of 64000000 bytes 5.1 MB/s ETA 7s 1 session (verifying)', '--stats lines: exact counts');
  t.same([formatDuration(42.4), formatDuration(185), formatDuration(3720)], ['42s', '3m05s', '1h02m']);
});
