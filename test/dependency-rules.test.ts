// The layering rules of README.md ("Layout") and each src/*/README.md, checked on every
// import in src/ (test/helpers/dependency-rules.ts), and shown to catch each kind of
// violation on a made-up tree.
import t from 'tap';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkRules, readSources, type Rules } from './helpers/dependency-rules.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** What the CLIs, the simulator and the test tools are; nothing below them imports them. */
const TOP = ['cli', 'ssm-session', 'entry', 'simulator'];

const RULES: Rules = {
  folders: [
    { folder: 'protocol', mayImportOnly: [], why: 'is the codec and imports nothing of ours' },
    { folder: 'util', mayImportOnly: [], why: 'holds leaf helpers and imports nothing of ours' },
    { folder: 'net', mayImportOnly: [], why: 'holds proxy and TLS plumbing and imports nothing of ours' },
    { folder: 'smux', mayImportOnly: [], why: 'is the smux v1 port and imports nothing of ours' },
    { folder: 'channel', mayImportOnly: ['protocol', 'util'], why: 'is the reliable channel and imports only src/protocol and src/util' },
    {
      folder: 'simulator',
      mustNotImport: ['client', 'session', 'cli', 'ssm-session', 'entry', 'channel', 'transport'],
      why: 'models the real agent and service and never imports client code',
    },
    ...['transport', 'aws', 'session', 'client'].map((folder) => ({
      folder,
      mustNotImport: TOP,
      why: 'is below the CLIs and the simulator and never imports them',
    })),
  ],
  libraryRoots: ['client'],
  // Imports that break a rule and are still to be removed (none left).
  knownImports: [],
  stdioExceptions: [
    {
      // Not printing: startSession's documented default `io` is the caller's own stdio (a
      // shell on this terminal); what goes through it is the remote side's output.
      file: 'src/session/io.ts',
      why: 'processIO() hands the caller stdio to a session that was given none',
    },
  ],
};

t.test('src/ keeps the layering rules', async (t) => {
  const sources = readSources(ROOT);
  t.ok(sources.length > 100, `read ${sources.length} source files`);
  t.ok(sources.find((s) => s.file === 'src/client/index.ts')?.imports.includes('src/client/session.ts'), 'imports are read');
  t.same(checkRules(sources, RULES), [], 'no rule is broken');
  for (const known of RULES.knownImports) {
    const still = sources.find((s) => s.file === known.from)?.imports.includes(known.to);
    if (!still) t.comment(`${known.from} -> ${known.to} is gone: remove it from knownImports`);
  }
});

t.test('each kind of violation is caught', async (t) => {
  const root = t.testdir({
    src: {
      protocol: { 'codec.ts': "import { helper } from '../util/helper.ts';\nexport const codec = helper;\n" },
      util: { 'helper.ts': 'export const helper = 1;\n' },
      channel: { 'channel.ts': "import { api } from '../aws/api.ts';\nexport const channel = api;\n" },
      aws: { 'api.ts': 'export const api = 2;\n' },
      simulator: { 'agent.ts': "export const agent = () => import('../client/lib.ts');\n" },
      client: {
        'lib.ts': "import { quiet } from './quiet.ts';\nexport const lib = quiet;\n",
        'quiet.ts': "import { loud } from '../session/loud.ts';\nexport const quiet = loud;\n",
      },
      session: {
        'loud.ts': "// console.log('in a comment is fine')\nexport function loud() {\n  console.error('x');\n  process.stdout.write('y');\n  process.exit(1);\n}\n",
        'a.ts': "import type { B } from './b.ts';\nexport type A = B;\n",
        'b.ts': "import type { C } from './c.ts';\nexport type B = C;\n",
        'c.ts': "import type { A } from './a.ts';\nexport type C = A | 1;\n",
      },
      cli: { 'main.ts': "console.log('the CLI may print');\nprocess.exit(0);\n" },
    },
  });
  const rules: Rules = { ...RULES, knownImports: [], stdioExceptions: [] };
  const problems = checkRules(readSources(root), rules);
  const expected = [
    /^src\/protocol\/codec\.ts imports src\/util\/helper\.ts: src\/protocol is the codec/,
    /^src\/channel\/channel\.ts imports src\/aws\/api\.ts: src\/channel /,
    /^src\/simulator\/agent\.ts imports src\/client\/lib\.ts: src\/simulator /,
    /^src\/session\/loud\.ts:3: console\.error: the library/,
    /^src\/session\/loud\.ts:4: process\.stdout: the library/,
    /^src\/session\/loud\.ts:5: process\.exit: the library/,
    /^import cycle among src\/session\/a\.ts, src\/session\/b\.ts, src\/session\/c\.ts$/,
  ];
  for (const pattern of expected) t.ok(problems.some((p) => pattern.test(p)), `caught: ${pattern.source}`);
  t.equal(problems.length, expected.length, `nothing else: ${problems.join('; ')}`);

  const allowed = checkRules(readSources(root), {
    ...rules,
    knownImports: [{ from: 'src/session/c.ts', to: 'src/session/a.ts', removedBy: 'the fixture' }],
    stdioExceptions: [{ file: 'src/session/loud.ts', why: 'the fixture' }],
  });
  t.equal(allowed.length, 3, 'a known import breaks the cycle; an exception lets one file name stdio');
});

t.test('every src/ folder has a README and a row in the README layout', async (t) => {
  const { readdirSync, existsSync, readFileSync } = await import('node:fs');
  const folders = readdirSync(path.join(ROOT, 'src'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const layout = readme.slice(readme.indexOf('### Layout'));
  for (const folder of folders) {
    t.ok(existsSync(path.join(ROOT, 'src', folder, 'README.md')), `src/${folder}/README.md`);
    t.ok(layout.includes(`| \`src/${folder}\` |`), `src/${folder} in the README layout`);
    t.ok(RULES.folders.some((rule) => rule.folder === folder) || ['cli', 'ssm-session', 'entry'].includes(folder), `src/${folder} has a rule, or is a command line`);
  }
});
