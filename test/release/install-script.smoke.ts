// dist/release/install.sh, the per-user install, run with a scratch HOME against a file
// server on 127.0.0.1 serving the release: it installs both names into ~/.local/bin
// without sudo (one file, a hard link), checks the archive's SHA-256 and installs nothing
// when it does not match, refuses a glibc older than 2.28 (or a macOS older than 13.5)
// before downloading anything, picks a Mac's archive on a Mac, installs nothing that does
// not run, and installs from a local directory too.
import t from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RELEASE_DIR, releaseReport, type TestContext } from '../helpers/release-files.ts';

const SCRIPT = path.join(RELEASE_DIR, 'install.sh');

interface Served {
  url: string;
  requests: string[];
}

/** Serves dist/release, with `override` replacing some files' contents. */
async function serveRelease(t: TestContext, override: Record<string, Buffer> = {}): Promise<Served> {
  const requests: string[] = [];
  const server: Server = createServer((request, response) => {
    const name = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname.slice(1));
    requests.push(name);
    const file = path.join(RELEASE_DIR, name);
    const body = override[name] ?? (name && !name.includes('/') && existsSync(file) ? readFileSync(file) : undefined);
    if (!body) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, requests };
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  home: string;
}

/** Runs install.sh with a fresh HOME and a PATH without ~/.local/bin (plus `extraPath` first). */
async function install(t: TestContext, args: string[], extraPath?: string): Promise<Result> {
  const home = mkdtempSync(path.join(tmpdir(), 'install-home-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const env = { HOME: home, PATH: [extraPath, '/usr/local/bin', '/usr/bin', '/bin'].filter(Boolean).join(':'), TMPDIR: home };
  const child = spawn('sh', [SCRIPT, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr, home };
}

const report = releaseReport(t);
if (report) {
  const archive = `session-manager-plugin-ts-${report.version}-linux-x64.tar.gz`;

  t.test('installs both names into ~/.local/bin from the release URL, no sudo', async (t) => {
    const served = await serveRelease(t);
    const result = await install(t, ['--from', served.url]);
    t.equal(result.code, 0, `exit 0\n${result.stderr}`);
    const bin = path.join(result.home, '.local', 'bin');
    t.equal(result.stdout.split('\n')[0], `Installed session-manager-plugin and ssm-session ${report.version} in ${bin}`);
    t.match(result.stdout, `Add ${bin} to your PATH`, 'says how to get it on PATH');
    t.same(served.requests, ['SHA256SUMS', archive], 'fetched the checksums and this machine’s archive');
    const plugin = statSync(path.join(bin, 'session-manager-plugin'));
    t.equal(statSync(path.join(bin, 'ssm-session')).ino, plugin.ino, 'ssm-session is a hard link to the same file');
    t.equal(plugin.mode & 0o777, 0o755);
    const installed = report.targets.find((x) => x.id === 'linux-x64')!;
    t.equal(plugin.size, installed.size, 'the linux-x64 binary');
    t.equal(result.stderr, '', 'nothing on stderr');
  });

  t.test('a checksum that does not match installs nothing', async (t) => {
    const sums = readFileSync(path.join(RELEASE_DIR, 'SHA256SUMS'), 'utf8');
    const line = sums.split('\n').find((l) => l.endsWith(`  ${archive}`))!;
    const wrong = `${line[0] === '0' ? '1' : '0'}${line.slice(1)}`;
    const served = await serveRelease(t, { SHA256SUMS: Buffer.from(sums.replace(line, wrong)) });
    const result = await install(t, ['--from', served.url]);
    t.equal(result.code, 1, 'exit 1');
    t.match(result.stderr, new RegExp(`^install\\.sh: checksum mismatch for ${archive.replace(/\./g, '\\.')} \\(expected ${wrong.slice(0, 64)}, got ${line.slice(0, 64)}\\): nothing installed\\n$`));
    t.notOk(existsSync(path.join(result.home, '.local', 'bin', 'session-manager-plugin')), 'nothing installed');

    const truncated = await serveRelease(t, { [archive]: readFileSync(path.join(RELEASE_DIR, archive)).subarray(0, 1_000_000) });
    const cut = await install(t, ['--from', truncated.url]);
    t.equal(cut.code, 1, 'a truncated download: exit 1');
    t.match(cut.stderr, /checksum mismatch/);
  });

  t.test('glibc older than 2.28: refused before downloading anything', async (t) => {
    const fake = mkdtempSync(path.join(tmpdir(), 'fake-getconf-'));
    t.teardown(() => rmSync(fake, { recursive: true, force: true }));
    writeFileSync(path.join(fake, 'getconf'), '#!/bin/sh\necho "glibc 2.17"\n');
    chmodSync(path.join(fake, 'getconf'), 0o755);
    const served = await serveRelease(t);
    const result = await install(t, ['--from', served.url], fake);
    t.equal(result.code, 1);
    t.match(result.stderr, /glibc 2\.17 is older than 2\.28; use npm install -g session-manager-plugin-ts/);
    t.same(served.requests, [], 'nothing fetched');
  });

  t.test("on a Mac: this Mac's archive, and a macOS older than 13.5 refused", async (t) => {
    // A stand-in uname and sw_vers: the Mac's archive is fetched and checked, but its binary
    // cannot run here, so nothing may be installed.
    const fake = mkdtempSync(path.join(tmpdir(), 'fake-mac-'));
    t.teardown(() => rmSync(fake, { recursive: true, force: true }));
    const tool = (name: string, body: string) => {
      writeFileSync(path.join(fake, name), `#!/bin/sh\n${body}\n`);
      chmodSync(path.join(fake, name), 0o755);
    };
    tool('uname', 'case "$1" in -s) echo Darwin ;; -m) echo arm64 ;; *) echo Darwin ;; esac');
    tool('sw_vers', 'echo 14.5');
    const served = await serveRelease(t);
    const result = await install(t, ['--from', served.url], fake);
    t.equal(result.code, 1);
    t.same(served.requests, ['SHA256SUMS', `session-manager-plugin-ts-${report.version}-darwin-arm64.tar.gz`], 'the darwin-arm64 archive');
    t.match(result.stderr, /the binary in session-manager-plugin-ts-[\d.]+-darwin-arm64\.tar\.gz does not run on this system: nothing installed/);
    t.notOk(existsSync(path.join(result.home, '.local', 'bin')), 'nothing installed');

    tool('sw_vers', 'echo 12.7.6');
    const old = await serveRelease(t);
    const refused = await install(t, ['--from', old.url], fake);
    t.equal(refused.code, 1);
    t.match(refused.stderr, /macOS 12\.7\.6 is older than 13\.5; use npm install -g session-manager-plugin-ts/);
    t.same(old.requests, [], 'nothing fetched');
  });

  t.test('installs from a local directory, into --bin-dir', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'install-bin-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const bin = path.join(dir, 'tools', 'bin');
    const result = await install(t, ['--from', RELEASE_DIR, '--bin-dir', bin]);
    t.equal(result.code, 0, result.stderr);
    t.equal(result.stdout.split('\n')[0], `Installed session-manager-plugin and ssm-session ${report.version} in ${bin}`);
    t.equal(statSync(path.join(bin, 'ssm-session')).ino, statSync(path.join(bin, 'session-manager-plugin')).ino);
    t.notOk(existsSync(path.join(result.home, '.local')), 'nothing in ~/.local');
  });

  t.test('without a location it says what to pass', async (t) => {
    const script = readFileSync(SCRIPT, 'utf8');
    if (!/^FROM=''$/m.test(script)) return void t.comment('this release knows its download location');
    const result = await install(t, []);
    t.equal(result.code, 1);
    t.equal(result.stderr, 'install.sh: no release location known: pass --from URL_OR_DIRECTORY\n');
  });
}
