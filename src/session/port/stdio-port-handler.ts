import { PayloadType } from '../../protocol/constants.ts';
import { InputPump } from '../input-pump.ts';
import type { HandlerContext, SessionHandler } from '../session-handler.ts';
import { IncomingGate } from '../incoming-gate.ts';
import { isTerminateSignal } from './port-limits.ts';
import { corkUntilNextTick } from '../../util/tick-cork.ts';

/** How long, after stdin ends, we wait for the agent to acknowledge what we sent. */
const FLUSH_ON_EOF_MS = 2000;
/**
 * After a terminate signal, how long stdin may stay silent (while the channel could take
 * more) before we stop waiting for its end.
 */
const INPUT_IDLE_ON_SIGNAL_MS = 500;

/**
 * Standard-stream port sessions, e.g. AWS-StartSSHSession as an ssh ProxyCommand
 * (§7.3.5): stdin and stdout are the byte stream, untouched (no LF→CR rewriting, Q9),
 * and every message goes to stderr (Q11).
 */
export class StdioPortHandler implements SessionHandler {
  readonly dataOnStdout = true;
  private readonly context: HandlerContext;
  private readonly input: InputPump;
  private readonly gate: IncomingGate;
  private stopped = false;
  private finishing = false;
  private inputEnded = false;
  private inputActivity: (() => void) | undefined;

  constructor(context: HandlerContext) {
    this.context = context;
    this.input = new InputPump(context.channel, context.io.stdin);
    this.gate = new IncomingGate(context.channel);
  }

  start(): void {
    const { stdin } = this.context.io;
    stdin.on('data', this.onInput);
    stdin.once('end', this.onInputEnd);
    stdin.on('error', this.onInputEnd);
    stdin.resume();
  }

  receive(payloadType: number, payload: Buffer): boolean {
    if (payloadType !== PayloadType.Output) return true;
    corkUntilNextTick(this.context.io.stdout);
    this.gate.write(this.context.io.stdout, payload);
    return true;
  }

  /**
   * ssh closes the ProxyCommand's stdin and sends it SIGHUP right away, often before we
   * have read what it wrote last (its goodbye to sshd): read stdin to its end first, so
   * nothing written before the signal is lost, then leave as on EOF.
   */
  signal(name: NodeJS.Signals): boolean {
    if (!isTerminateSignal(name)) return false;
    void this.finish(`${name} received`, true);
    return true;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.input.stop();
    const { stdin } = this.context.io;
    stdin.off('data', this.onInput);
    stdin.off('end', this.onInputEnd);
    stdin.off('error', this.onInputEnd);
    stdin.pause();
  }

  private readonly onInput = (data: Buffer | string): void => {
    this.input.push(typeof data === 'string' ? Buffer.from(data) : data);
    this.inputActivity?.();
  };

  /**
   * ssh closed our stdin: deliver what is in flight, then leave and terminate the session.
   * The official client leaves it open; but the protocol cannot carry the end of input to
   * the destination, so sshd would see the connection end only if ssh's last words told
   * it, and otherwise the session and the agent's connection to sshd linger until the
   * session times out.
   */
  private readonly onInputEnd = (): void => {
    this.inputEnded = true;
    this.inputActivity?.();
    void this.finish('stdin closed');
  };

  private async finish(reason: string, readInputToEnd = false): Promise<void> {
    if (this.stopped || this.finishing) return;
    this.finishing = true;
    if (readInputToEnd && !this.inputEnded) {
      this.context.logger.debug(`${reason}: reading stdin to its end first`);
      await this.inputDrained();
    }
    if (this.stopped) return;
    await this.context.channel.flushed(FLUSH_ON_EOF_MS);
    this.context.end({ reason, terminateApi: true });
  }

  /**
   * Resolves at stdin's end, or once stdin has been silent for INPUT_IDLE_ON_SIGNAL_MS
   * while the channel could have taken more (a stdin that never ends must not keep us).
   */
  private inputDrained(): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        this.inputActivity = undefined;
        resolve();
      };
      const arm = (): void => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => {
          if (!this.context.channel.writable) arm(); // stdin is paused by us, not silent
          else done();
        }, INPUT_IDLE_ON_SIGNAL_MS);
      };
      this.inputActivity = () => (this.inputEnded || this.stopped ? done() : arm());
      arm();
    });
  }
}
