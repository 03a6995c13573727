import { PayloadType } from '../../protocol/constants.ts';
import { InputPump } from '../input-pump.ts';
import type { HandlerContext, SessionHandler } from '../session-handler.ts';
import { IncomingGate } from '../incoming-gate.ts';
import { isTerminateSignal } from './port-limits.ts';

/** How long, after stdin ends, we wait for the agent to acknowledge what we sent. */
const FLUSH_ON_EOF_MS = 2000;

/**
 * Standard-stream port sessions, e.g. AWS-StartSSHSession as an ssh ProxyCommand
 * (§7.3.5): stdin and stdout are the byte stream, untouched (no LF→CR rewriting, Q9),
 * and every message goes to stderr (Q11).
 */
export class StreamPortHandler implements SessionHandler {
  readonly dataOnStdout = true;
  private readonly context: HandlerContext;
  private readonly input: InputPump;
  private readonly gate: IncomingGate;
  private stopped = false;

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
    this.gate.write(this.context.io.stdout, payload);
    return true;
  }

  signal(name: NodeJS.Signals): boolean {
    if (!isTerminateSignal(name)) return false;
    void this.finish(`${name} received`);
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
  };

  /** ssh closed our stdin: deliver what is in flight, then leave (no flag, as the official client). */
  private readonly onInputEnd = (): void => {
    void this.finish('stdin closed');
  };

  private async finish(reason: string): Promise<void> {
    if (this.stopped) return;
    await this.context.channel.flushed(FLUSH_ON_EOF_MS);
    this.context.end({ reason });
  }
}
