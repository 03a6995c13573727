import { PayloadType } from '../protocol/constants.ts';
import { encodeSize } from '../protocol/payloads.ts';
import type { HandlerContext, SessionHandler } from './session-handler.ts';
import { TerminalMode } from './terminal.ts';
import { InputPump } from './input-pump.ts';
import { IncomingGate } from './incoming-gate.ts';
import { EscapeFilter } from './escape-filter.ts';
import { EndOfInput } from './end-of-input.ts';

/** Control bytes the terminal would send for these signals (§7.1, §9.2). */
const SIGNAL_BYTES: Partial<Record<NodeJS.Signals, number>> = {
  SIGINT: 0x03,
  SIGQUIT: 0x1c,
  SIGTSTP: 0x1a,
};

/** End-of-transmission: what a terminal sends for Ctrl-D; ends the remote shell at EOF. */
const EOT = Buffer.from([0x04]);

/**
 * Standard_Stream, InteractiveCommands and NonInteractiveCommands sessions (§7.1,
 * §7.2): stdin to the agent as Output payloads, agent output to stdout, terminal size
 * at start and on every resize.
 */
export class ShellHandler implements SessionHandler {
  private readonly context: HandlerContext;
  private readonly terminal: TerminalMode;
  private readonly input: InputPump;
  private readonly gate: IncomingGate;
  private readonly endOfInput: EndOfInput;
  /** Escapes (`~.`) only for a person at a terminal, as ssh does. */
  private escapes: EscapeFilter | undefined;
  private started = false;
  private stopped = false;
  private unwatchSize: (() => void) | undefined;

  constructor(context: HandlerContext) {
    this.context = context;
    this.terminal = new TerminalMode(context.io);
    this.input = new InputPump(context.channel, context.io.stdin);
    this.gate = new IncomingGate(context.channel);
    this.endOfInput = new EndOfInput(
      () => {
        this.context.logger.debug('sending EOT to the remote shell');
        this.input.push(EOT);
      },
      () => context.channel.flushed(60_000),
    );
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const { stdin } = this.context.io;
    this.terminal.enterRaw();
    if (this.terminal.interactive) this.escapes = new EscapeFilter();
    this.sendSize();
    this.unwatchSize = this.terminal.watchSize(this.sendSize);
    stdin.on('data', this.onInput);
    stdin.on('end', this.onInputEnd);
    stdin.on('error', this.onInputEnd);
    stdin.resume();
  }

  receive(payloadType: number, payload: Buffer): boolean {
    switch (payloadType) {
      case PayloadType.Output:
        this.gate.write(this.context.io.stdout, payload);
        this.endOfInput.outputArrived();
        return true;
      case PayloadType.StdErr:
        // The official client prints these on stdout too (Q18); stderr is where they belong.
        this.gate.write(this.context.io.stderr, payload);
        return true;
      case PayloadType.ExitCode:
        this.onExitCode(payload);
        return true;
      default:
        return true;
    }
  }

  /** `EXIT_CODE: <n>` (§7.2): our exit status, or printed verbatim like the official client. */
  private onExitCode(payload: Buffer): void {
    const match = /^EXIT_CODE: (-?\d+)/.exec(payload.toString('latin1'));
    if (match) this.context.reportExitCode(Number(match[1]));
    if (!match || !this.context.exitStatusFromRemote) this.gate.write(this.context.io.stdout, payload);
  }

  signal(name: NodeJS.Signals): boolean {
    const byte = SIGNAL_BYTES[name];
    if (byte === undefined) return false;
    this.input.push(Buffer.from([byte]));
    return true;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    const { stdin } = this.context.io;
    this.unwatchSize?.();
    stdin.off('data', this.onInput);
    stdin.off('end', this.onInputEnd);
    stdin.off('error', this.onInputEnd);
    this.input.stop();
    this.endOfInput.stop();
    this.terminal.restore();
    stdin.pause();
  }

  private readonly sendSize = (): void => {
    this.context.channel.send(PayloadType.Size, encodeSize(this.terminal.size()));
  };

  private readonly onInput = (chunk: Buffer | string): void => {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (!this.escapes) return this.input.push(data);
    const filtered = this.escapes.filter(data);
    if (filtered.data.length > 0) this.input.push(filtered.data);
    if (filtered.disconnect) {
      this.context.logger.debug('escape ~. typed: ending the session locally');
      this.context.end({ reason: 'escape sequence ~.', terminateApi: true });
    }
  };

  /** Piped input ended: tell the remote shell, as Ctrl-D would, and wait for it to exit. */
  private readonly onInputEnd = (): void => {
    if (this.stopped) return;
    this.context.logger.debug('stdin ended; EOT to the remote shell once it is idle');
    this.endOfInput.begin();
  };
}
