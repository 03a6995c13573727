// A throwaway OpenSSH server for `ssm-session ssh-proxy` tests and the benchmark: host and
// user keys made with ssh-keygen, listening on 127.0.0.1 only, a child of this process.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { findOnPath } from './aws-cli-sandbox.ts';
import { descendants, killAll } from './processes.ts';
import { unusedPort } from './ssm-session-cli.ts';
import { waitFor } from './wait.ts';

export const SSHD_PATH = '/usr/sbin/sshd';
export const SSH_PATH = findOnPath('ssh');
const SSH_KEYGEN_PATH = findOnPath('ssh-keygen');

/** What is missing for these tests, empty when sshd, ssh and ssh-keygen are all there. */
export function missingSshTools(): string[] {
  const missing: string[] = [];
  if (!existsSync(SSHD_PATH)) missing.push(`${SSHD_PATH} (openssh-server)`);
  if (!SSH_PATH || !SSH_KEYGEN_PATH) missing.push('ssh, ssh-keygen (openssh-client)');
  return missing;
}

export interface TestSshd {
  port: number;
  user: string;
  /** ssh options: no user config, our key, a throwaway known_hosts, batch mode. */
  clientOptions(proxyCommand: string): string[];
  /** The server's own directory (keys, config, a place for files). */
  dir: string;
  /** What sshd printed (-e: its log on stderr). */
  log(): string;
  stop(): void;
}

function newKey(file: string): void {
  const made = spawnSync(SSH_KEYGEN_PATH!, ['-q', '-t', 'ed25519', '-N', '', '-C', 'ssm-session-test', '-f', file], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`ssh-keygen: ${made.stderr}`);
}

/** Starts sshd in `dir` (created); resolves once it listens. Call stop() when done. */
export async function startTestSshd(dir: string): Promise<TestSshd> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const hostKey = path.join(dir, 'ssh_host_ed25519_key');
  const clientKey = path.join(dir, 'id_ed25519');
  newKey(hostKey);
  newKey(clientKey);
  const authorized = path.join(dir, 'authorized_keys');
  writeFileSync(authorized, readFileSync(`${clientKey}.pub`), { mode: 0o600 });
  // sshd's privilege separation wants this directory to exist.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await unusedPort();
  const settings: Record<string, string> = {
    Port: String(port),
    ListenAddress: '127.0.0.1',
    HostKey: hostKey,
    PidFile: path.join(dir, 'sshd.pid'),
    AuthorizedKeysFile: authorized,
    UsePAM: 'no',
    StrictModes: 'no',
    PermitRootLogin: 'yes',
    PasswordAuthentication: 'no',
    KbdInteractiveAuthentication: 'no',
    PrintMotd: 'no',
  };
  const config = path.join(dir, 'sshd_config');
  writeFileSync(config, Object.entries(settings).map(([key, value]) => `${key} ${value}\n`).join(''));
  const server = spawn(SSHD_PATH, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  let gone = false;
  server.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  server.once('exit', () => (gone = true));
  const stop = (): void => {
    if (server.pid !== undefined) killAll([...descendants(server.pid), server.pid]);
  };
  try {
    await waitFor(() => log.includes(`port ${port}`), {
      what: 'sshd to listen',
      timeoutMs: 10_000,
      context: () => log,
      abort: () => (gone ? 'sshd exited' : undefined),
    });
  } catch (err) {
    stop();
    throw err;
  }
  const knownHosts = path.join(dir, 'known_hosts');
  return {
    port,
    user: userInfo().username,
    dir,
    log: () => log,
    stop,
    clientOptions: (proxyCommand) => [
      '-F', '/dev/null',
      '-o', `ProxyCommand=${proxyCommand}`,
      '-o', `UserKnownHostsFile=${knownHosts}`,
      '-o', 'StrictHostKeyChecking=no',
      '-o', 'BatchMode=yes',
      '-o', 'IdentitiesOnly=yes',
      '-o', 'LogLevel=ERROR',
      '-i', clientKey,
      '-p', String(port),
    ],
  };
}
