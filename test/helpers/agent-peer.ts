// The simulator's agent channel (src/simulator/agent/agent-channel.ts, written from the
// agent's side of PROTOCOL.md §6) on the far end of a memory link, so that client-side
// tests meet an independent peer instead of our own DataChannel in the agent role.
import { AgentChannel, type InputVerdict } from '../../src/simulator/agent/agent-channel.ts';
import { PayloadType } from '../../src/protocol/constants.ts';
import type { Frame } from '../../src/protocol/frame.ts';
import type { MemoryTransport } from '../../src/transport/memory-transport.ts';

export interface AgentPeer {
  readonly channel: AgentChannel;
  /** Every payload the agent took, in order: handshake answers and data alike. */
  readonly received: Array<{ type: number; payload: Buffer }>;
  /** Sends one output_stream_data payload (numbered, kept and resent until acked). */
  send(payloadType: number, payload: Buffer): void;
  /** Sends `data` as Output payloads of at most 1 KiB, as the agent's read loop does. */
  sendOutput(data: Buffer): void;
  /** Takes frames from `transport` and sends on it from now on (the previous one is left). */
  attach(transport: MemoryTransport): void;
  /** What the handler answers for payloads from now on (default 'accepted'). */
  setVerdict(verdict: InputVerdict): void;
  /** Resolves once at least `bytes` Output bytes have arrived; the bytes in order. */
  outputReceived(bytes: number): Promise<Buffer>;
  close(): void;
}

export function agentPeer(transport: MemoryTransport, sessionId = 'sess-1'): AgentPeer {
  let current = transport;
  let verdict: InputVerdict = 'accepted';
  const received: Array<{ type: number; payload: Buffer }> = [];
  const waiters: Array<() => void> = [];
  const onFrame = (raw: Buffer): void => channel.receive(raw);
  const channel = new AgentChannel({ sessionId, send: (frame) => void current.send(frame) });
  const take = (frame: Frame): InputVerdict => {
    if (verdict !== 'accepted') return verdict;
    received.push({ type: frame.payloadType, payload: Buffer.from(frame.payload) });
    for (const wake of waiters.splice(0)) wake();
    return 'accepted';
  };
  channel.setDataHandler(take);
  channel.setHandshakeHandler(take);
  channel.start();
  // The agent's resend scheduler does not keep a process alive (it is unref'd); a test
  // waiting on it only must not end early, so the peer holds the event loop until closed.
  const keepAlive = setInterval(() => undefined, 60_000);
  const outputBytes = () => received.filter((r) => r.type === PayloadType.Output);
  const peer: AgentPeer = {
    channel,
    received,
    send: (payloadType, payload) => void channel.sendStream(payloadType, payload),
    sendOutput: (data) => {
      for (let offset = 0; offset < data.length; offset += 1024) channel.sendStream(PayloadType.Output, data.subarray(offset, offset + 1024));
    },
    attach: (next) => {
      current.off('frame', onFrame);
      current = next;
      next.on('frame', onFrame);
    },
    setVerdict: (next) => {
      verdict = next;
    },
    outputReceived: (bytes) =>
      new Promise((resolve) => {
        const check = (): void => {
          const chunks = outputBytes().map((r) => r.payload);
          const total = chunks.reduce((sum, c) => sum + c.length, 0);
          if (total >= bytes) resolve(Buffer.concat(chunks));
          else waiters.push(check);
        };
        check();
      }),
    close: () => {
      current.off('frame', onFrame);
      clearInterval(keepAlive);
      channel.close();
    },
  };
  transport.on('frame', onFrame);
  return peer;
}
