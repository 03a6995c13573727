import type { DataChannel } from '../channel/data-channel.ts';
import { PayloadType, STREAM_CHUNK_SIZE } from '../protocol/constants.ts';

/**
 * Sends bytes as Output payloads of at most 1 KiB (STREAM_CHUNK_SIZE, what the agent
 * reads per payload); false when the channel window is full, so the caller pauses its
 * source until the channel's 'drain'.
 */
export function sendOutput(channel: DataChannel, bytes: Buffer): boolean {
  let open = true;
  for (let offset = 0; offset < bytes.length; offset += STREAM_CHUNK_SIZE) {
    open = channel.send(PayloadType.Output, bytes.subarray(offset, offset + STREAM_CHUNK_SIZE));
  }
  return open;
}
