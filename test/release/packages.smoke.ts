// The downloads `npm run release` made: SHA256SUMS holds for every file; each archive and
// package holds the very binary of its target (by SHA-256) under both names (a hard link
// where the format has them), with the layout, owners and metadata users and package
// managers see; the host's binary runs out of each of them. The .deb and .rpm install where
// the official session-manager-plugin packages do and declare that they replace them.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TARGETS } from '../../scripts/release/targets.ts';
import { archiveBase, INSTALL_DIR, LINK_DIR, OFFICIAL_PACKAGE, PACKAGE_NAME } from '../../scripts/release/packages.ts';
import { readCpio, readZip } from '../helpers/archive-readers.ts';
import { RELEASE_DIR, releaseFile, releaseReport, type TestContext } from '../helpers/release-files.ts';

const VERSION_LINE = /^\d+\.\d+\.\d+\.\d+\n$/;
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function run(command: string, args: string[], options: { input?: Buffer; cwd?: string } = {}) {
  const result = spawnSync(command, args, { maxBuffer: 512 * 1024 * 1024, ...options });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: exit ${result.status}\n${result.stderr}`);
  return result.stdout;
}

function scratch(t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'release-smoke-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `binary --version` and checks it prints a version. */
function checkRuns(t: TestContext, binary: string, label: string): void {
  const result = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  t.equal(result.status, 0, `${label} runs`);
  t.match(result.stdout, VERSION_LINE, `${label} prints its version`);
}

const report = releaseReport(t);
if (report) {
  const targetSha = (id: string) => report.targets.find((x) => x.id === id)?.sha256;

  t.test('SHA256SUMS names every download, with its SHA-256', async (t) => {
    const lines = readFileSync(path.join(RELEASE_DIR, 'SHA256SUMS'), 'utf8').trim().split('\n');
    const listed = new Map(lines.map((line) => [line.slice(66), line.slice(0, 64)]));
    const files = readdirSync(RELEASE_DIR).filter((name) => statSync(path.join(RELEASE_DIR, name)).isFile() && !['SHA256SUMS', 'report.json'].includes(name));
    t.same([...listed.keys()].sort(), files.sort(), 'one line per file');
    for (const [name, digest] of listed) t.equal(sha256(readFileSync(path.join(RELEASE_DIR, name))), digest, name);
    t.ok(lines.every((line) => /^[0-9a-f]{64} {2}\S+$/.test(line)), 'sha256sum -c format');
  });

  t.test('.tar.gz and .tar.xz: both names (one a hard link) and LICENSE, owned by root', async (t) => {
    for (const target of TARGETS.filter((x) => x.os !== 'win32' && targetSha(x.id))) {
      const base = archiveBase(report.version, target);
      for (const extension of ['tar.gz', 'tar.xz']) {
        const file = releaseFile(report, new RegExp(`-${target.id}\\.${extension.replace('.', '\\.')}$`));
        const listing = run('tar', ['--numeric-owner', '-tvf', file]).toString('utf8').trim().split('\n');
        const expected = [
          /^drwxr-xr-x 0\/0 .* \S+\/$/,
          /^-rw-r--r-- 0\/0 .* \S+\/LICENSE$/,
          /^-rwxr-xr-x 0\/0 .* \S+\/session-manager-plugin$/,
          /^hrwxr-xr-x 0\/0 .* \S+\/ssm-session link to \S+\/session-manager-plugin$/,
        ];
        t.equal(listing.length, expected.length, `${target.id} .${extension}: ${expected.length} entries`);
        expected.forEach((pattern, i) => t.match(listing[i], pattern));
        t.ok(listing.every((line) => line.includes(` ${base}/`)), `everything under ${base}/`);
        const binary = run('tar', ['-xOf', file, `${base}/session-manager-plugin`]);
        t.equal(sha256(binary), targetSha(target.id), `${target.id} .${extension} holds the ${target.id} binary`);
      }
    }
    const dir = scratch(t);
    run('tar', ['-xf', releaseFile(report, /-linux-x64\.tar\.gz$/), '-C', dir]);
    const unpacked = path.join(dir, archiveBase(report.version, TARGETS[0]!));
    t.equal(statSync(path.join(unpacked, 'ssm-session')).ino, statSync(path.join(unpacked, 'session-manager-plugin')).ino, 'extracted as a hard link');
    checkRuns(t, path.join(unpacked, 'session-manager-plugin'), 'the extracted plugin');
    checkRuns(t, path.join(unpacked, 'ssm-session'), 'the extracted ssm-session');
  });

  t.test('.zip: the Windows binary and LICENSE', async (t) => {
    if (!targetSha('win-x64')) return void t.fail('no win-x64 in the release');
    const entries = readZip(readFileSync(releaseFile(report, /-win-x64\.zip$/)));
    const base = archiveBase(report.version, TARGETS.find((x) => x.id === 'win-x64')!);
    t.same(entries.map((e) => e.name), [`${base}/session-manager-plugin.exe`, `${base}/LICENSE`]);
    t.equal(sha256(entries[0]!.data), targetSha('win-x64'), 'the win-x64 binary, intact');
  });

  t.test('.deb: installs where the official package does, replaces it, runs', async (t) => {
    for (const target of TARGETS.filter((x) => x.deb && targetSha(x.id))) {
      const file = releaseFile(report, new RegExp(`_${target.deb}\\.deb$`));
      const field = (name: string) => run('dpkg-deb', ['--field', file, name]).toString('utf8').trim();
      t.equal(field('Package'), PACKAGE_NAME, 'our own package name');
      t.equal(field('Architecture'), target.deb);
      t.equal(field('Version'), `${report.version}-1`);
      for (const relation of ['Provides', 'Conflicts', 'Replaces']) t.equal(field(relation), OFFICIAL_PACKAGE, `${relation}: ${OFFICIAL_PACKAGE}`);
      t.match(field('Depends'), /libc6 \(>= 2\.28\).*libatomic1/, 'needs glibc 2.28 and libatomic');
      const listing = run('dpkg-deb', ['-c', file]).toString('utf8');
      t.match(listing, new RegExp(`-rwxr-xr-x root/root .* \\.${INSTALL_DIR}/bin/session-manager-plugin\\n`), 'the binary, root-owned, 0755');
      t.match(listing, new RegExp(`hrwxr-xr-x root/root .* \\.${INSTALL_DIR}/bin/ssm-session link to \\.${INSTALL_DIR}/bin/session-manager-plugin`), 'ssm-session: a hard link');
      for (const name of ['session-manager-plugin', 'ssm-session']) {
        t.match(listing, new RegExp(`lrwxrwxrwx root/root .* \\.${LINK_DIR}/${name} -> ${INSTALL_DIR}/bin/${name}`), `${LINK_DIR}/${name} on PATH`);
      }
      const postinst = run('dpkg-deb', ['-I', file, 'postinst']).toString('utf8');
      t.match(postinst, new RegExp(`ln -s ${INSTALL_DIR}/bin/session-manager-plugin ${LINK_DIR}/session-manager-plugin`), 'postinst puts the link back');
      const dir = scratch(t);
      run('dpkg-deb', ['-x', file, dir]);
      const binary = path.join(dir, INSTALL_DIR, 'bin', 'session-manager-plugin');
      t.equal(sha256(readFileSync(binary)), targetSha(target.id), `the ${target.id} binary`);
      t.equal(readlinkSync(path.join(dir, LINK_DIR, 'ssm-session')), `${INSTALL_DIR}/bin/ssm-session`);
      if (target.id === 'linux-x64') {
        checkRuns(t, binary, 'the plugin from the .deb');
        checkRuns(t, path.join(dir, INSTALL_DIR, 'bin', 'ssm-session'), 'ssm-session from the .deb');
      }
    }
  });

  t.test('.rpm: xz payload, the same places, obsoletes the official package, runs', async (t) => {
    for (const target of TARGETS.filter((x) => x.rpm && targetSha(x.id))) {
      const file = releaseFile(report, new RegExp(`\\.${target.rpm}\\.rpm$`));
      const query = (format: string) => run('rpm', ['-qp', '--qf', format, file]).toString('utf8');
      t.equal(query('%{NAME} %{VERSION}-%{RELEASE} %{ARCH}'), `${PACKAGE_NAME} ${report.version}-1 ${target.rpm}`);
      t.equal(query('%{PAYLOADCOMPRESSOR}'), 'xz', 'xz payload: readable by the rpm of Amazon Linux 2, unlike zstd');
      const relation = (option: string) => run('rpm', ['-qp', option, file]).toString('utf8');
      t.match(relation('--provides'), new RegExp(`^${OFFICIAL_PACKAGE} = ${report.version}-1$`, 'm'), 'provides session-manager-plugin');
      t.match(relation('--obsoletes'), new RegExp(`^${OFFICIAL_PACKAGE}$`, 'm'), 'obsoletes it (dnf/yum replace it)');
      t.match(relation('--conflicts'), new RegExp(`^${OFFICIAL_PACKAGE}$`, 'm'), 'conflicts with it');
      t.match(relation('--requires'), /libc\.so\.6\(GLIBC_2\.28\)\(64bit\)[\s\S]*|libatomic\.so\.1/, 'requires what the binary links');
      t.match(run('rpm', ['-qp', '--scripts', file]).toString('utf8'), /posttrans scriptlet[\s\S]*ln -s \/usr\/local\/sessionmanagerplugin\/bin\/session-manager-plugin/, '%posttrans puts the link back');
      const entries = readCpio(run('rpm2cpio', [file]));
      const byName = new Map(entries.map((e) => [e.name.replace(/^\.?\//, '/'), e]));
      for (const name of ['session-manager-plugin', 'ssm-session']) {
        t.ok(byName.has(`${INSTALL_DIR}/bin/${name}`), `${INSTALL_DIR}/bin/${name}`);
        t.equal(byName.get(`${LINK_DIR}/${name}`)?.data.toString('utf8'), `${INSTALL_DIR}/bin/${name}`, `${LINK_DIR}/${name} -> it`);
      }
      const plugin = byName.get(`${INSTALL_DIR}/bin/session-manager-plugin`)!;
      const second = byName.get(`${INSTALL_DIR}/bin/ssm-session`)!;
      t.equal(plugin.inode, second.inode, 'one file, two names (a hard link)');
      const data = plugin.data.length > 0 ? plugin.data : second.data;
      t.equal(sha256(data), targetSha(target.id), `the ${target.id} binary`);
      t.equal(plugin.mode & 0o777, 0o755);
    }
  });

  t.test('the npm package: the launchers and the bundle, nothing else', async (t) => {
    const file = releaseFile(report, /^session-manager-plugin-ts-[\d.]+\.tgz$/);
    const names = run('tar', ['-tzf', file]).toString('utf8').trim().split('\n').sort();
    t.same(names, ['package/LICENSE', 'package/README.md', 'package/bin/launch.cjs', 'package/bin/session-manager-plugin.cjs', 'package/bin/ssm-session.cjs', 'package/dist/main.cjs', 'package/package.json']);
    const pkg = JSON.parse(run('tar', ['-xOzf', file, 'package/package.json']).toString('utf8'));
    t.notOk(pkg.private, 'publishable');
    t.equal(pkg.engines.node, '>=20');
    t.ok(lstatSync(file).size < 1024 * 1024, 'small');
  });
}
