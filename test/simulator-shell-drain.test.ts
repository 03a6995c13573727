// The shell plugin reads a pty to its end, as the agent's writePump reads until the read
// fails (amazon-ssm-agent agent/session/shell/shell.go): output still unread when the
// process exits is sent. node-pty destroys a pty's socket 200 ms after its process exits
// (a macOS workaround in unixTerminal); while the pump has paused the pty because the
// channel is not writable, or on a busy machine, that destroy used to throw the tail away.
//
// The condition is forced, not waited for: the command fills the pump past its high-water
// mark (1 MiB), waits on a FIFO until the pty is paused, writes a tail that the paused pty
// holds unread (its socket reads at most once more, its high-water mark being 0) and exits.
// node-pty's destroy timer runs on a mocked clock, advanced once the exit is reported: the
// destroy comes while the pty is paused, and any other timer due by then (as when the
// event loop runs late) fires before the socket has read again. Only then does the
// channel become writable.
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mock } from 'node:test';
import type { IPty } from 'node-pty';
import t from 'tap';
import { PayloadType } from '../src/protocol/constants.ts';
import type { AgentChannel } from '../src/simulator/agent/agent-channel.ts';
import type { PluginContext } from '../src/simulator/agent/session-plugin.ts';
import { ShellSession } from '../src/simulator/agent/shell-session.ts';

/** node-pty's DESTROY_SOCKET_TIMEOUT_MS (lib/unixTerminal.js). */
const NODE_PTY_DESTROY_MS = 200;
/** More than the pump's high-water mark (output-pump.ts), so the pump pauses the pty. */
const HEAD_BYTES = 1024 * 1024 + 1;
/**
 * Well under what the kernel holds for a pty nobody reads (some 18 KiB on Linux 6.18, up to
 * 64 KiB elsewhere): more and the command would block instead of exiting.
 */
const TAIL_BYTES = 8 * 1024;
/** No newline: the pty would turn it into \r\n. */
const MARKER = 'END-OF-OUTPUT';

/** The AgentChannel members ShellSession uses: not writable until open() is called. */
class FakeChannel {
  writable = false;
  readonly received: Buffer[] = [];
  private readonly listeners = new Set<() => void>();

  onWritable(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  sendStream(payloadType: number, payload: Buffer): number {
    if (payloadType === PayloadType.Output) this.received.push(Buffer.from(payload));
    return this.received.length;
  }

  open(): void {
    this.writable = true;
    for (const listener of this.listeners) listener();
  }
}

/** The parts of node-pty's Unix pty the test watches (not in its typings). */
type UnixPty = IPty & {
  _socket: { destroy(error?: Error): unknown };
  once(event: string, listener: (...args: unknown[]) => void): void;
};

t.test('output still in the pty when its process exits is sent, even while paused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shell-drain-'));
  const fifo = join(dir, 'go');
  t.teardown(() => {
    mock.timers.reset();
    rmSync(dir, { recursive: true, force: true });
  });

  const channel = new FakeChannel();
  const context: PluginContext = {
    channel: channel as unknown as AgentChannel,
    sessionId: 'drain-test',
    parameters: {},
    clientVersion: undefined,
    containerMode: false,
    settings: {
      agentVersion: '3.3.0.0',
      shellDelayMs: 0,
      pacing: false,
      shellCwd: dir,
      shellPath: '/bin/sh',
      shellArgs: [],
      shellPrompt: '$ ',
    },
  };
  const script = [
    'mkfifo "$1" || exit 1',
    `head -c ${HEAD_BYTES} /dev/zero | tr '\\0' a`,
    'cat "$1" >/dev/null', // until the test has seen the pty paused
    `head -c ${TAIL_BYTES} /dev/zero | tr '\\0' b`,
    `printf '%s' '${MARKER}'`,
  ].join('\n');
  const session = new ShellSession(context, { file: '/bin/sh', args: ['-c', script, 'sh', fifo] });
  const pty = (session as unknown as { pty: UnixPty }).pty;
  t.teardown(() => {
    try {
      process.kill(pty.pid, 'SIGKILL');
    } catch {
      // gone
    }
  });
  const running = session.run();
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });

  const paused = new Promise<void>((resolve) => {
    const pause = pty.pause.bind(pty);
    pty.pause = () => {
      pause();
      resolve();
    };
  });
  // node-pty's exit handler arms its destroy timer and then waits for the socket's close.
  const exitReported = new Promise<void>((resolve) => {
    const once = pty.once.bind(pty);
    pty.once = (event, listener) => {
      once(event, listener);
      if (event === 'close') resolve();
    };
  });
  let destroyedBeforeOpen = false;
  const socket = pty._socket;
  const destroy = socket.destroy.bind(socket);
  socket.destroy = (error?: Error) => {
    if (!error && !channel.writable) destroyedBeforeOpen = true;
    return destroy(error);
  };
  const exited = new Promise<void>((resolve) => pty.onExit(() => resolve()));

  await paused;
  await writeFile(fifo, 'go');
  await exitReported;
  mock.timers.tick(NODE_PTY_DESTROY_MS);
  await exited;
  mock.timers.reset();
  t.ok(destroyedBeforeOpen, "node-pty's post-exit destroy came while the channel was not writable");

  channel.open();
  const result = await running;
  t.equal(result.status, 'success', 'the session succeeded');
  const output = Buffer.concat(channel.received);
  t.equal(output.length, HEAD_BYTES + TAIL_BYTES + MARKER.length, 'every byte the command wrote');
  t.equal(output.subarray(-MARKER.length).toString(), MARKER, 'the marker at the end');
  t.equal(output.subarray(HEAD_BYTES, HEAD_BYTES + TAIL_BYTES).toString(), 'b'.repeat(TAIL_BYTES), 'the tail');
});
