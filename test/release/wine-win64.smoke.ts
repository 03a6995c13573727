// The win-x64 binary of the release under Wine (Debian's wine64): --version under both
// .exe names, a port-forwarding transfer through the plugin and a command through
// ssm-session, against the simulator on this machine; Ctrl-C (Wine's console event for
// SIGINT) ends the port session the official way.
//
// What Wine cannot do, and how it is worked around here:
// - Wine 8 does not implement MEM_RESERVE_PLACEHOLDER, which V8 uses for its address-space
//   reservations whenever kernelbase.dll has VirtualAlloc2 (Node then dies at start with
//   "Fatal process out of memory: SegmentedTable::InitializeTable"). The test first runs
//   the shipped file as it is; if that fails, it runs a copy in which the names
//   "VirtualAlloc2" and "MapViewOfFile3" are changed by one letter, so V8 finds neither and
//   takes its own fallback. Everything else in that copy is the shipped binary.
// - Node under Wine cannot use a pipe from a Linux parent as stdout or stderr (EBADF when
//   opening it): the output goes to files instead.
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSimulator } from '../../src/simulator/index.ts';
import { createSandbox, findOnPath, REGION } from '../helpers/aws-cli-sandbox.ts';
import { ENV_NAME, TARGET } from '../helpers/port-session.ts';
import { checkTransfer, forwardingSession, releaseBinary, releaseReport, type TestContext } from '../helpers/release-files.ts';
import { waitFor } from '../helpers/wait.ts';


const report = releaseReport(t);
const wine = findOnPath('wine') ?? findOnPath('wine64');
const binary = report && releaseBinary(t, report, 'win-x64');

interface WineRun {
  child: ChildProcess;
  output(): string;
  exit: Promise<number | null>;
}

if (!wine) {
  t.fail('wine is needed (apt-get install wine64)');
} else if (report && binary) {
  const dir = mkdtempSync(path.join(tmpdir(), 'wine-smoke-'));
  const prefix = path.join(dir, 'prefix');
  const wineEnv = (env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv => ({
    ...env,
    WINEPREFIX: prefix,
    WINEDEBUG: '-all',
    // No Mono or Gecko installers when the prefix is made.
    WINEDLLOVERRIDES: 'mscoree,mshtml=',
  });
  t.teardown(() => {
    spawnSync(findOnPath('wineserver') ?? 'wineserver', ['-k'], { env: wineEnv() });
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts `exe` under Wine with stdout and stderr in one file. */
  const startWine = (exe: string, args: string[], env: NodeJS.ProcessEnv, name: string): WineRun => {
    const outFile = path.join(dir, `${name}.out`);
    const fd = openSync(outFile, 'w');
    const child = spawn(wine, [exe, ...args], { env: wineEnv(env), stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    return { child, output: () => readFileSync(outFile, 'utf8'), exit };
  };

  const version = async (exe: string, name: string) => {
    const run = startWine(exe, ['--version'], process.env, name);
    return { code: await run.exit, output: run.output() };
  };

  t.test('win-x64 under Wine', async (t: TestContext) => {
    // A Windows 10 prefix: Node refuses older Windows versions.
    spawnSync(wine, ['winecfg', '/v', 'win10'], { env: wineEnv(), stdio: 'ignore', timeout: 120_000 });
    const wineVersion = spawnSync(wine, ['--version'], { encoding: 'utf8' }).stdout.trim();

    const plugin = path.join(dir, 'session-manager-plugin.exe');
    copyFileSync(binary, plugin);
    const shipped = await version(plugin, 'shipped-version');
    // Its output decides, not Wine's exit status alone (0 was seen with Node's fatal error).
    if (shipped.code === 0 && shipped.output.replace(/\r\n/g, '\n') === `${report.version}\n`) {
      t.comment(`${wineVersion} runs the shipped binary as it is`);
    } else {
      t.match(shipped.output, /SegmentedTable|out of memory|VirtualAlloc/, `${wineVersion} cannot run it as it is: the known placeholder gap`);
      const file = readFileSync(plugin);
      for (const name of ['VirtualAlloc2', 'MapViewOfFile3']) {
        const at = file.indexOf(Buffer.from(`${name}\0`, 'latin1'));
        t.ok(at > 0 && file.indexOf(Buffer.from(`${name}\0`, 'latin1'), at + 1) < 0, `${name} named once`);
        file.write('X', at + name.length - 1, 'latin1');
      }
      writeFileSync(plugin, file);
      t.comment(`${wineVersion}: running a copy with VirtualAlloc2/MapViewOfFile3 renamed (V8's fallback)`);
    }
    const ssmSession = path.join(dir, 'ssm-session.exe');
    copyFileSync(plugin, ssmSession);

    for (const [exe, label] of [
      [plugin, 'session-manager-plugin.exe'],
      [ssmSession, 'ssm-session.exe'],
    ] as const) {
      const result = await version(exe, `${label}-version`);
      t.equal(result.code, 0, `${label} --version exits 0\n${result.output}`);
      t.equal(result.output.replace(/\r\n/g, '\n'), `${report.version}\n`, `${label} prints the version`);
    }

    const sim = await startSimulator({ pacing: false, shellDelayMs: 50, frameLogLimit: 0 });
    t.teardown(() => sim.close());
    const sandbox = createSandbox();
    t.teardown(() => sandbox.remove());
    const env = sandbox.env({ AWS_ENDPOINT_URL_SSM: sim.endpoint });

    t.test('a port-forwarding transfer through the plugin', async (t) => {
      const size = 2 * 1024 * 1024;
      const { server, request, response } = await forwardingSession(t, sim, size);
      const run = startWine(plugin, [ENV_NAME, REGION, 'StartSession', '', JSON.stringify(request), sim.endpoint], { ...env, [ENV_NAME]: JSON.stringify(response) }, 'forward');
      t.teardown(() => run.child.kill('SIGKILL'));
      const match = await waitFor(() => /Port (\d+) opened for sessionId/.exec(run.output()), {
        what: 'the Port N opened notice',
        timeoutMs: 60_000,
        context: run.output,
      });
      await checkTransfer(t, server, Number(match[1]), size, 'under Wine');
      // Wine turns SIGINT into the console's Ctrl-C event: the plugin's Windows Ctrl-C path.
      run.child.kill('SIGINT');
      const deadline = new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 30_000).unref());
      t.equal(await Promise.race([run.exit, deadline]), 0, 'Ctrl-C: exits 0');
      t.match(run.output(), `Terminate signal received, exiting.\n\n\nExiting session with sessionId: ${response.SessionId}.`);
    });

    t.test('a command through ssm-session.exe', async (t) => {
      const run = startWine(ssmSession, ['run', TARGET, '--', 'echo win-$((6*7))'], env, 'run');
      t.teardown(() => run.child.kill('SIGKILL'));
      const code = await run.exit;
      t.equal(code, 0, `exits 0\n${run.output()}`);
      t.equal(run.output(), 'win-42\n');
    });
  });
}
