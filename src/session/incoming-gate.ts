import type { DataChannel } from '../channel/data-channel.ts';

/**
 * Holds the channel's incoming frames while any local sink (terminal, socket, smux
 * stream) has more queued than it should, so memory stays bounded whatever the
 * speed of the local reader.
 */
export class IncomingGate {
  private readonly channel: DataChannel;
  private readonly holders = new Set<object>();

  constructor(channel: DataChannel) {
    this.channel = channel;
  }

  hold(holder: object): void {
    this.holders.add(holder);
    if (this.holders.size === 1) this.channel.holdIncoming(true);
  }

  release(holder: object): void {
    if (this.holders.delete(holder) && this.holders.size === 0) this.channel.holdIncoming(false);
  }

  /** Writes to a sink; when it reports itself full, holds input until it drains. */
  write(sink: NodeJS.WritableStream, data: Buffer): void {
    if (sink.write(data) || this.holders.has(sink)) return;
    this.hold(sink);
    sink.once('drain', () => this.release(sink));
  }

  /** Forgets a sink that went away, so it cannot hold the channel forever. */
  forget(sink: object): void {
    this.release(sink);
  }
}
