import type { DataChannel } from '../channel/data-channel.ts';
import { sendOutput } from './send-output.ts';

/**
 * Sends a local stream's bytes as Output payloads of at most 1 KiB, pausing the source
 * while the channel window is full (no sleeps, unlike the official client, Q12).
 */
export class InputPump {
  private readonly channel: DataChannel;
  private readonly source: NodeJS.ReadableStream;
  private waiting = false;
  private stopped = false;

  constructor(channel: DataChannel, source: NodeJS.ReadableStream) {
    this.channel = channel;
    this.source = source;
  }

  /** Sends one chunk read from the source. */
  push(data: Buffer): void {
    if (!sendOutput(this.channel, data) && !this.waiting) {
      this.waiting = true;
      this.source.pause();
      this.channel.once('drain', this.onDrain);
    }
  }

  stop(): void {
    this.stopped = true;
    this.channel.off('drain', this.onDrain);
  }

  private readonly onDrain = (): void => {
    this.waiting = false;
    if (!this.stopped) this.source.resume();
  };
}
