import { PayloadType } from '../../protocol/constants.ts';
import { OutputPump } from './output-pump.ts';
import type { PluginContext, PluginResult } from './session-plugin.ts';

// What basic and mux port sessions share: the paced path from the destination (or the
// smux server) to the client, and the settle-once task result.

/** The agent's paced read loop to the client, pausing `source` above the high-water mark. */
export function paceOutput(context: PluginContext, highWaterBytes: number, lowWaterBytes: number, source: {
  pause: () => void;
  resume: () => void;
}): OutputPump {
  const channel = context.channel;
  return new OutputPump({
    send: (chunk) => channel.sendStream(PayloadType.Output, chunk),
    // Blocked while publication is paused or the client connection is backed up.
    isPaused: () => !channel.writable,
    initialDelayMs: 0,
    pacing: context.settings.pacing,
    holdBackPartialUtf8: false,
    pauseSource: source.pause,
    resumeSource: source.resume,
    highWaterBytes,
    lowWaterBytes,
  });
}

/** How a port session ends: its task result (port.go, execute); never with Terminating. */
export type PortEnd = Omit<PluginResult, 'terminating'>;
export const NORMAL_END: PortEnd = { status: 'success', output: '' };
/** A WritePump error: the session fails, with no text (port.go sets none). */
export const FAILED_END: PortEnd = { status: 'failed', output: '' };

export function failedStart(error: unknown): PortEnd {
  return { status: 'failed', output: error instanceof Error ? error.message : String(error) };
}

/** A settle-once promise for the session's end. */
export class Ending {
  readonly promise: Promise<PluginResult>;
  done = false;
  private resolve!: (end: PluginResult) => void;
  constructor() {
    this.promise = new Promise((resolve) => {
      this.resolve = resolve;
    });
  }
  settle(end: PortEnd): void {
    if (this.done) return;
    this.done = true;
    this.resolve({ ...end, terminating: false });
  }
}
