// `ssm-session cp` figures against the built-in simulator with the agent's pacing on (1 KiB
// per ms per session in terminal and port sessions, as the real agent's shell and port
// loops; command output is not paced, as in the real agent): a 64 MiB file down and up, with
// --pool 8 and --pool 1, against scp of the same file through AWS-StartSSHSession
// (`ssm-session ssh-proxy` as ProxyCommand, a throwaway sshd on 127.0.0.1), to an instance
// and to an ECS container. Every transfer that completes is checked byte for byte (SHA-256
// of the file at both ends).
//
//   export async function benchCp(row)   row(name, value, note) prints one figure
//   node scripts/bench-cp.mjs            runs alone and prints a table
//
// Every figure is a whole 64 MiB transfer (one paced session needs a minute and a half, so
// the run takes several minutes). Asserts nothing; the targets are printed next to the ratios.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, openSync, closeSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createSandbox } from '../test/helpers/aws-cli-sandbox.ts';
import { startTestSshd, SSH_PATH } from '../test/helpers/ssm-session-sshd.ts';
import { runAlone, simulatorProcess } from './bench-pool.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BINARY = path.join(root, 'dist', 'ssm-session');
const INSTANCE = 'i-0123456789abcdef0';
const ECS_TARGET = 'ecs:bench/0123456789abcdef0123456789abcdef/app';
const MiB = 1024 * 1024;
const SIZE = 64 * MiB;

const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000);
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

function sha256File(file) {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject);
  });
}

/** A file of `size` random bytes. */
function randomFile(file, size) {
  const fd = openSync(file, 'w');
  try {
    for (let done = 0; done < size; done += MiB) writeSync(fd, randomBytes(Math.min(MiB, size - done)));
  } finally {
    closeSync(fd);
  }
}

/** Runs a command to its end; rejects unless it exits 0. */
function run(command, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (chunk) => (err += chunk));
    child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${path.basename(command)} ${args.join(' ')}: exit ${code ?? signal}\n${err}`))));
  });
}

/** A whole transfer: wall time, and the copy compared with the original. */
async function timed(what, command, args, env, copy, original) {
  rmSync(copy, { force: true });
  const started = performance.now();
  await run(command, args, env);
  const ms = performance.now() - started;
  if ((await sha256File(copy)) !== original) throw new Error(`${what}: the copy differs from the original`);
  return ms;
}

export async function benchCp(row) {
  if (!existsSync(BINARY)) throw new Error('dist/ssm-session is missing; run `npm run build` first');
  const sim = await simulatorProcess(); // pacing on, the agent's delays as they are
  const sandbox = createSandbox();
  const env = sandbox.env({ AWS_ENDPOINT_URL_SSM: sim.endpoint, AWS_ENDPOINT_URL_ECS: sim.endpoint });
  const dir = path.join(sandbox.dir, 'files');
  mkdirSync(dir);
  const remote = path.join(dir, 'remote.bin'); // the target's file system is this machine's
  const local = path.join(dir, 'local.bin');
  const copy = path.join(dir, 'copy.bin');
  randomFile(remote, SIZE);
  randomFile(local, SIZE);
  const remoteSum = await sha256File(remote);
  const localSum = await sha256File(local);
  const cp = (pool, from, to) => ['cp', '-q', '--pool', String(pool), '--no-resume', from, to];
  let sshd;
  try {
    sshd = await startTestSshd(path.join(sandbox.dir, 'sshd'));
    const proxy = `${BINARY} --endpoint-url ${sim.endpoint} ssh-proxy %h %p`;
    // scp takes -P for the port (its -p keeps times); -O: the scp protocol, as the test sshd has no sftp subsystem.
    const scpOptions = ['-O', ...sshd.clientOptions(proxy).map((word) => (word === '-p' ? '-P' : word))];
    const scp = path.join(path.dirname(SSH_PATH), 'scp');
    const scpDown = await timed('scp download', scp, [...scpOptions, `${sshd.user}@${INSTANCE}:${remote}`, copy], env, copy, remoteSum);
    row('scp download 64 MiB through AWS-StartSSHSession', `${seconds(scpDown)}, ${mbps(SIZE, scpDown).toFixed(2)} MB/s`, 'a paced port session; ssm-session ssh-proxy as ProxyCommand; SHA-256 checked');

    // An instance: command sessions, whose output the agent does not pace (shell.go reads
    // their pipes without the shell's 1 ms sleep), so one session is not capped at ~1 MB/s.
    const down8 = await timed('download --pool 8', BINARY, cp(8, `${INSTANCE}:${remote}`, copy), env, copy, remoteSum);
    row('cp download 64 MiB, instance, --pool 8', `${seconds(down8)}, ${mbps(SIZE, down8).toFixed(2)} MB/s`, 'command sessions, raw bytes; SHA-256 checked');
    const down1 = await timed('download --pool 1', BINARY, cp(1, `${INSTANCE}:${remote}`, copy), env, copy, remoteSum);
    row('cp download 64 MiB, instance, --pool 1', `${seconds(down1)}, ${mbps(SIZE, down1).toFixed(2)} MB/s`, 'SHA-256 checked');
    row('instance download, cp --pool 8 over scp', `${(scpDown / down8).toFixed(1)}x (target ≥ 5x)`, 'same file, same run');
    row('instance download, --pool 8 over --pool 1', `${(down1 / down8).toFixed(1)}x`, 'command output is not paced: one session already runs at CPU speed');

    // An ECS container: ECS exec has terminal sessions only, paced like a shell (1 KiB/ms).
    const ecs8 = await timed('ECS download --pool 8', BINARY, cp(8, `${ECS_TARGET}:${remote}`, copy), env, copy, remoteSum);
    row('cp download 64 MiB, ECS container, --pool 8', `${seconds(ecs8)}, ${mbps(SIZE, ecs8).toFixed(2)} MB/s`, 'paced terminal sessions; SHA-256 checked');
    const ecs1 = await timed('ECS download --pool 1', BINARY, cp(1, `${ECS_TARGET}:${remote}`, copy), env, copy, remoteSum);
    row('cp download 64 MiB, ECS container, --pool 1', `${seconds(ecs1)}, ${mbps(SIZE, ecs1).toFixed(2)} MB/s`, 'one paced terminal session; SHA-256 checked');
    row('container download, --pool 8 over --pool 1', `${(ecs1 / ecs8).toFixed(1)}x (target ≥ 5x)`, 'same file, same run');
    row('container download, cp --pool 8 over scp', `${(scpDown / ecs8).toFixed(1)}x (target ≥ 5x)`, 'scp to the instance, same file');

    // Uploads: typed into terminal sessions (command sessions discard input), not paced.
    const target = path.join(dir, 'uploaded.bin');
    const up8 = await timed('upload --pool 8', BINARY, cp(8, local, `${INSTANCE}:${target}`), env, target, localSum);
    row('cp upload 64 MiB, instance, --pool 8', `${mbps(SIZE, up8).toFixed(2)} MB/s (${seconds(up8)})`, 'SHA-256 checked');
    const up1 = await timed('upload --pool 1', BINARY, cp(1, local, `${INSTANCE}:${target}`), env, target, localSum);
    row('cp upload 64 MiB, instance, --pool 1', `${mbps(SIZE, up1).toFixed(2)} MB/s (${seconds(up1)})`, 'SHA-256 checked');
    const scpUp = await timed('scp upload', scp, [...scpOptions, local, `${sshd.user}@${INSTANCE}:${target}`], env, target, localSum);
    row('scp upload 64 MiB through AWS-StartSSHSession', `${mbps(SIZE, scpUp).toFixed(2)} MB/s (${seconds(scpUp)})`, 'SHA-256 checked');
    row('upload, cp against scp (target: report)', `--pool 8 ${(scpUp / up8).toFixed(1)}x, --pool 1 ${(scpUp / up1).toFixed(1)}x scp's speed`, 'base64 typed into terminals vs raw bytes');
    const ecsUp = await timed('ECS upload', BINARY, cp(8, local, `${ECS_TARGET}:${target}`), env, target, localSum);
    row('cp upload 64 MiB, ECS container, --pool 8', `${mbps(SIZE, ecsUp).toFixed(2)} MB/s (${seconds(ecsUp)})`, 'SHA-256 checked');
  } catch (err) {
    if (sshd) process.stderr.write(sshd.log());
    throw err;
  } finally {
    sshd?.stop();
    sandbox.remove();
    await sim.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runAlone(benchCp);
