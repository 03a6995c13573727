// The downloads made from the single executables: .tar.gz and .tar.xz (Linux, macOS), .zip
// (Windows), .deb and .rpm (Linux) installing where the official session-manager-plugin
// packages do and replacing them. Archive entries carry fixed owners and times
// (SOURCE_DATE_EPOCH), so the same binaries give the same archives.
import { spawn } from 'node:child_process';
import { chmod, copyFile, link, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { deflateRawSmallest, gzipSmallest } from './deflate.ts';
import { PROGRAM_NAMES } from '../lib/sea.ts';
import { ReleaseError, requireTool } from './run.ts';
import type { Target } from './targets.ts';

/** The package name of ours, distinct from the official one it replaces. */
export const PACKAGE_NAME = 'session-manager-plugin-ts';
/** The official packages' name: ours provides, replaces and conflicts with it. */
export const OFFICIAL_PACKAGE = 'session-manager-plugin';
/** Where the official packages put the binary, and the link on PATH they add. */
export const INSTALL_DIR = '/usr/local/sessionmanagerplugin';
export const LINK_DIR = '/usr/local/bin';
/**
 * xz preset for .tar.xz, .deb and .rpm. Eight ~110 MB binaries go through xz in a release:
 * preset 1 takes 16 s for one (6: 67 s) and gives ~32 MB (6: ~28 MB).
 */
const XZ_LEVEL = 1;

export interface PackageInputs {
  target: Target;
  /** The built single executable (session-manager-plugin[.exe]). */
  exe: string;
  version: string;
  license: string;
  /** Seconds since the epoch for every entry's time. */
  epoch: number;
  work: string;
  outDir: string;
}

/** The archive's base name, which is also its top directory. */
export function archiveBase(version: string, target: Target): string {
  return `${PACKAGE_NAME}-${version}-${target.id}`;
}

/** Runs a command without blocking the event loop (so packages build two at a time). */
function runAsync(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', (err) => reject(new ReleaseError(`${command}: ${err.message}`)));
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new ReleaseError(`${[command, ...args].join(' ')} failed (exit ${code}):\n${stderr.trim()}`)),
    );
  });
}

/** A staging copy of the program: a directory with the executable under both names and LICENSE. */
async function stageProgramDir(inputs: PackageInputs, dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const [first, ...others] = PROGRAM_NAMES;
  const main = path.join(dir, first);
  await copyFile(inputs.exe, main);
  await chmod(main, 0o755);
  for (const name of others) await link(main, path.join(dir, name));
  await copyFile(inputs.license, path.join(dir, 'LICENSE'));
  await chmod(path.join(dir, 'LICENSE'), 0o644);
}

/** GNU tar with fixed owners, order and times; the second name is stored as a hard link. */
function tarArgs(epoch: number): string[] {
  return ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${epoch}`, '--format=gnu'];
}

/** .tar.gz and .tar.xz of `<base>/{session-manager-plugin, ssm-session, LICENSE}`. */
export async function tarballs(inputs: PackageInputs): Promise<string[]> {
  const base = archiveBase(inputs.version, inputs.target);
  const stage = path.join(inputs.work, `tar-${inputs.target.id}`);
  await stageProgramDir(inputs, path.join(stage, base));
  const tar = requireTool('tar', 'tar');
  const gz = path.join(inputs.outDir, `${base}.tar.gz`);
  const xz = path.join(inputs.outDir, `${base}.tar.xz`);
  const plain = path.join(stage, `${base}.tar`);
  await Promise.all([
    runAsync(tar, [...tarArgs(inputs.epoch), '-cf', plain, base], { cwd: stage }).then(async () =>
      writeFile(gz, await gzipSmallest(await readFile(plain))),
    ),
    runAsync(tar, [...tarArgs(inputs.epoch), `--use-compress-program=${requireTool('xz-utils', 'xz')} -${XZ_LEVEL} -T1`, '-cf', xz, base], {
      cwd: stage,
    }),
  ]);
  await rm(plain);
  return [gz, xz];
}

/**
 * .zip of `<base>/{session-manager-plugin.exe, LICENSE}`. Zip has no hard links, and a
 * second copy would double the download: the README says how to add `ssm-session.exe`.
 */
export async function zipArchive(inputs: PackageInputs): Promise<string> {
  const base = archiveBase(inputs.version, inputs.target);
  const file = path.join(inputs.outDir, `${base}.zip`);
  await writeFile(
    file,
    await zip(
      [
        { name: `${base}/${PROGRAM_NAMES[0]}${inputs.target.suffix}`, data: await readFile(inputs.exe), mode: 0o755 },
        { name: `${base}/LICENSE`, data: await readFile(inputs.license), mode: 0o644 },
      ],
      inputs.epoch,
    ),
  );
  return file;
}

interface ZipEntry {
  name: string;
  data: Buffer;
  mode: number;
}

/** A plain zip (7-Zip's deflate, no zip64: every entry is far below 4 GiB), PKWARE APPNOTE layout. */
export async function zip(entries: ZipEntry[], epoch: number): Promise<Buffer> {
  const date = new Date(epoch * 1000);
  const dosTime = (date.getUTCHours() << 11) | (date.getUTCMinutes() << 5) | Math.floor(date.getUTCSeconds() / 2);
  const dosDate = ((date.getUTCFullYear() - 1980) << 9) | ((date.getUTCMonth() + 1) << 5) | date.getUTCDate();
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const compressed = await deflateRawSmallest(entry.data);
    const crc = crc32(entry.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed: 2.0
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(dosTime, 10);
    local.writeUInt16LE(dosDate, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(entry.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix, so the mode below counts
    local.copy(central, 6, 4, 28); // version needed .. name length
    central.writeUInt32LE(((0o100000 | entry.mode) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, compressed);
    centrals.push(central, name);
    offset += local.length + name.length + compressed.length;
  }
  const centralDirectory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralDirectory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, centralDirectory, end]);
}

/**
 * The file tree both Linux packages install: the binary where the official package puts
 * it, its second name beside it, links from /usr/local/bin, and the licence.
 */
async function stageSystemTree(inputs: PackageInputs, root: string): Promise<void> {
  await stageProgramDir(inputs, path.join(root, INSTALL_DIR.slice(1), 'bin'));
  await rm(path.join(root, INSTALL_DIR.slice(1), 'bin', 'LICENSE'));
  await copyFile(inputs.license, path.join(root, INSTALL_DIR.slice(1), 'LICENSE'));
  await mkdir(path.join(root, LINK_DIR.slice(1)), { recursive: true });
  for (const name of PROGRAM_NAMES) await symlink(`${INSTALL_DIR}/bin/${name}`, path.join(root, LINK_DIR.slice(1), name));
}

/**
 * Shell lines putting the /usr/local/bin links back: the official package's removal script
 * deletes /usr/local/bin/session-manager-plugin, and when ours replaces it, that script can
 * run after our files are in place.
 */
function restoreLinks(): string {
  return PROGRAM_NAMES.map(
    (name) => `[ -e ${LINK_DIR}/${name} ] || [ -L ${LINK_DIR}/${name} ] || ln -s ${INSTALL_DIR}/bin/${name} ${LINK_DIR}/${name}`,
  ).join('\n');
}

const SUMMARY = 'Drop-in replacement for the AWS Session Manager plugin, with ssm-session';
const DESCRIPTION = [
  'session-manager-plugin runs the sessions of aws ssm start-session and aws ecs',
  'execute-command (shells, commands, port forwarding, ssh) like the official plugin,',
  'which this package replaces. ssm-session starts sessions itself: shells, commands,',
  'several port forwards and a SOCKS5 proxy in one process, and an ssh ProxyCommand.',
];

/** Debian package (xz-compressed data). */
export async function debPackage(inputs: PackageInputs): Promise<string> {
  const { target } = inputs;
  if (!target.deb) throw new ReleaseError(`${target.id} has no Debian architecture`);
  const root = path.join(inputs.work, `deb-${target.id}`);
  await rm(root, { recursive: true, force: true });
  await stageSystemTree(inputs, root);
  const docDir = path.join(root, 'usr/share/doc', PACKAGE_NAME);
  await mkdir(docDir, { recursive: true });
  await copyFile(inputs.license, path.join(docDir, 'copyright'));
  const installedKiB = Math.ceil(((await stat(inputs.exe)).size + (await stat(inputs.license)).size * 2) / 1024);
  await mkdir(path.join(root, 'DEBIAN'));
  const control = [
    `Package: ${PACKAGE_NAME}`,
    `Version: ${inputs.version}-1`,
    `Architecture: ${target.deb}`,
    `Maintainer: ${PACKAGE_NAME} maintainers`,
    `Installed-Size: ${installedKiB}`,
    // The official Node binaries' needs: glibc 2.28, libstdc++ from GCC 5, libatomic.
    'Depends: libc6 (>= 2.28), libstdc++6 (>= 5), libgcc-s1 | libgcc1, libatomic1',
    `Provides: ${OFFICIAL_PACKAGE}`,
    `Conflicts: ${OFFICIAL_PACKAGE}`,
    `Replaces: ${OFFICIAL_PACKAGE}`,
    'Section: admin',
    'Priority: optional',
    `Description: ${SUMMARY}`,
    ...DESCRIPTION.map((line) => ` ${line}`),
    '',
  ].join('\n');
  await writeFile(path.join(root, 'DEBIAN/control'), control);
  await writeFile(
    path.join(root, 'DEBIAN/postinst'),
    `#!/bin/sh\nset -e\nif [ "$1" = configure ]; then\n${restoreLinks().replace(/^/gm, '  ')}\nfi\n`,
    { mode: 0o755 },
  );
  const file = path.join(inputs.outDir, `${PACKAGE_NAME}_${inputs.version}-1_${target.deb}.deb`);
  await runAsync(requireTool('dpkg', 'dpkg-deb'), ['--root-owner-group', `-Zxz`, `-z${XZ_LEVEL}`, '--build', root, file], {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(inputs.epoch) },
  });
  return file;
}

/** RPM package (xz payload: the rpm of Amazon Linux 2 and older cannot read zstd). */
export async function rpmPackage(inputs: PackageInputs): Promise<string> {
  const { target } = inputs;
  if (!target.rpm) throw new ReleaseError(`${target.id} has no RPM architecture`);
  const top = path.join(inputs.work, `rpm-${target.id}`);
  const root = path.join(top, 'root');
  await rm(top, { recursive: true, force: true });
  await stageSystemTree(inputs, root);
  const spec = [
    `Name: ${PACKAGE_NAME}`,
    `Version: ${inputs.version}`,
    'Release: 1',
    `Summary: ${SUMMARY}`,
    'License: Apache-2.0',
    `Provides: ${OFFICIAL_PACKAGE} = %{version}-%{release}`,
    `Obsoletes: ${OFFICIAL_PACKAGE}`,
    `Conflicts: ${OFFICIAL_PACKAGE}`,
    // The binaries are built and stripped already: no debuginfo, no strip, no build-id links.
    '%global debug_package %{nil}',
    '%global __os_install_post %{nil}',
    '%global _build_id_links none',
    `%global _binary_payload w${XZ_LEVEL}.xzdio`,
    '%description',
    ...DESCRIPTION,
    '%files',
    '%defattr(-,root,root,-)',
    `%dir ${INSTALL_DIR}`,
    `%dir ${INSTALL_DIR}/bin`,
    ...PROGRAM_NAMES.map((name) => `${INSTALL_DIR}/bin/${name}`),
    `%license ${INSTALL_DIR}/LICENSE`,
    ...PROGRAM_NAMES.map((name) => `${LINK_DIR}/${name}`),
    // After the whole transaction, when a replaced official package's scripts have run.
    '%posttrans',
    restoreLinks(),
    '',
  ].join('\n');
  const specFile = path.join(top, `${PACKAGE_NAME}.spec`);
  await writeFile(specFile, spec);
  await runAsync(
    requireTool('rpm', 'rpmbuild'),
    [
      '-bb',
      '--quiet',
      '--target',
      target.rpm,
      '--buildroot',
      root,
      '--define',
      `_topdir ${path.join(top, 'rpmbuild')}`,
      '--define',
      `_rpmdir ${inputs.outDir}`,
      '--define',
      '_rpmfilename %{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm',
      '--define',
      'use_source_date_epoch_as_buildtime 1',
      '--define',
      'clamp_mtime_to_source_date_epoch 1',
      '--define',
      '_buildhost reproducible',
      specFile,
    ],
    { env: { ...process.env, SOURCE_DATE_EPOCH: String(inputs.epoch) } },
  );
  return path.join(inputs.outDir, `${PACKAGE_NAME}-${inputs.version}-1.${target.rpm}.rpm`);
}
