// End to end: `aws ecs execute-command` (AWS CLI v1 and v2) under the real regional endpoint
// names, reached through an HTTPS_PROXY that maps them to the simulator (TLS inside the
// tunnel, as through a TLS-inspecting proxy). The WebSocket is dropped mid-session: the
// plugin must resume through the regional SSM endpoint, not the ECS endpoint the CLI gave
// it in argv[6] (where ResumeSession does not exist), and the shell must go on.
import t from 'tap';
import { spawn as spawnPty } from 'node-pty';
import { awsClis, REGION, requireAwsCli } from './helpers/aws-cli-sandbox.ts';
import { startConnectProxy } from './helpers/connect-proxy.ts';
import { requireBinary, withSandbox, withSimulator } from './helpers/plugin-fixtures.ts';
import { descendants, killAll } from './helpers/processes.ts';
import { printable, waitFor } from './helpers/wait.ts';

const ECS_HOST = `ecs.${REGION}.amazonaws.com`;
const SSM_HOST = `ssm.${REGION}.amazonaws.com`;

for (const cli of awsClis()) {
  t.test(`${cli.label} ecs execute-command: a dropped WebSocket is resumed through the SSM endpoint`, async (t) => {
    if (!requireBinary(t)) return;
    const aws = requireAwsCli(t, cli);
    if (!aws) return;
    const sim = await withSimulator(t, { tls: true, shellDelayMs: 50 });
    const sandbox = withSandbox(t);
    // Only the two API names are let through, both to the simulator; the data channel
    // (wss://127.0.0.1) is exempt by the sandbox's NO_PROXY.
    const proxy = await startConnectProxy((host, port) => (port === 443 && (host === ECS_HOST || host === SSM_HOST) ? sim.port : undefined));
    t.teardown(() => proxy.close());

    const pty = spawnPty(
      aws,
      ['ecs', 'execute-command', '--cluster', 'demo-cluster', '--task', 'a1b2c3d4e5f6', '--container', 'web',
        '--command', '/bin/bash --noprofile --norc', '--interactive', '--region', REGION],
      { cols: 100, rows: 30, cwd: sandbox.dir, env: sandbox.env({ HTTPS_PROXY: proxy.url, PS1: 'ecs$ ' }) as Record<string, string> },
    );
    let screen = '';
    let exitCode: number | undefined;
    pty.onData((data) => (screen += data));
    const exited = new Promise<void>((resolve) => pty.onExit((event) => ((exitCode = event.exitCode), resolve())));
    t.teardown(async () => {
      if (exitCode !== undefined) return;
      killAll([pty.pid, ...descendants(pty.pid)]);
      await exited;
    });
    const until = <T>(what: string, condition: () => T | undefined | null | false) =>
      waitFor(condition, {
        what,
        timeoutMs: 20_000,
        context: () => `${printable(screen)}\n--- tunnels ---\n${proxy.tunnels.join('\n')}`,
        abort: () => (exitCode !== undefined ? `aws exited ${exitCode}` : undefined),
      });
    const after = (mark: number, text: string) => until(`"${text}" on the screen`, () => screen.indexOf(text, mark) >= 0);

    const sessionId = (await until('the ECS session banner', () => /Starting session with SessionId: (ecs-execute-command-\S+)\r?\n/.exec(screen)))[1]!;
    let mark = screen.length;
    pty.write('echo before-$((20+1))\r');
    await after(mark, 'before-21');

    mark = screen.length;
    sim.disconnectClient(sessionId);
    await after(mark, 'Connection re-established.');
    mark = screen.length;
    pty.write('echo after-$((20+2))\r');
    await after(mark, 'after-22');
    pty.write('exit\r');
    await until('aws to exit', () => exitCode !== undefined);
    t.equal(exitCode, 0, 'aws exits 0');

    const calls = sim.apiCalls.filter((c) => c.caller === undefined);
    t.same(
      calls.filter((c) => c.service === 'ecs').map((c) => [c.operation, c.host]),
      [['ExecuteCommand', ECS_HOST], ['DescribeTasks', ECS_HOST]],
      'the CLI called ECS at its regional name',
    );
    const resumes = calls.filter((c) => c.operation === 'ResumeSession');
    t.same(
      resumes.map((c) => [(c.body as { SessionId?: string }).SessionId, c.host, c.status]),
      [[sessionId, SSM_HOST, 200]],
      'one ResumeSession, to the regional SSM endpoint, accepted',
    );
    t.same(calls.filter((c) => c.host === ECS_HOST && c.service !== 'ecs'), [], 'nothing but ECS calls went to the ECS endpoint');
    t.same([...new Set(proxy.tunnels)].sort(), [`${ECS_HOST}:443`, `${SSM_HOST}:443`], 'the proxy tunnelled those two names only');
    const opens = sim.openDataChannelMessages.filter((r) => r.sessionId === sessionId);
    t.same(opens.map((r) => [r.accepted, r.secure]), [[true, true], [true, true]], 'two wss:// connections, both accepted');
    t.not(opens[1]?.message?.TokenValue, opens[0]?.message?.TokenValue, 'the second with the resumed token');
  });
}
