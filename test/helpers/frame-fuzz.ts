// Seeded generator of hostile data-channel input: random bytes, truncated and mutated
// frames, absurd lengths, bad message types, unknown payload types, odd sequence numbers,
// and well-formed frames whose JSON payloads (acks, handshakes, channel_closed) are junk.
import { MessageType, PAYLOAD_OFFSET, PayloadType } from '../../src/protocol/constants.ts';
import { encodeFrame, type Frame } from '../../src/protocol/frame.ts';
import { seededRandom } from '../../src/util/prng.ts';

export interface FuzzOptions {
  seed: number;
  /** The receiver's next expected sequence number (for "near" and "gap" numbers). */
  expected: () => number;
  /**
   * Whether a well-formed sequenced frame may carry exactly the expected number (it is
   * then consumed). Off when a real peer's numbering must not be disturbed.
   */
  allowInOrder: boolean;
  /** Whether well-formed channel_closed frames may be produced (they end a session). */
  allowChannelClosed: boolean;
  /** Whether well-formed pause_publication frames may be produced. */
  allowPause: boolean;
}

export interface FuzzInput {
  kind: string;
  bytes: Buffer;
}

const KNOWN_TYPES = new Set<string>(Object.values(MessageType));

/** Junk that parses (or not) as JSON, for payloads that are supposed to be JSON. */
const JUNK_JSON = [
  '',
  '{',
  'null',
  '[]',
  '"text"',
  '12',
  '{"AcknowledgedMessageSequenceNumber":"7"}',
  '{"AcknowledgedMessageSequenceNumber":-1}',
  '{"AcknowledgedMessageSequenceNumber":1e300}',
  '{"AcknowledgedMessageSequenceNumber":9007199254740993}',
  '{"acknowledgedmessagesequencenumber":null}',
  '{"RequestedClientActions":{}}',
  '{"RequestedClientActions":[null,1,"x",{"ActionType":{"a":1}}]}',
  '{"RequestedClientActions":[{"ActionType":"SessionType","ActionParameters":null}]}',
  '{"RequestedClientActions":[{"ActionType":"SessionType","ActionParameters":{"SessionType":["Port"]}}]}',
  '{"RequestedClientActions":[{"ActionType":"constructor"},{"ActionType":"__proto__"},{"ActionType":"toString"}]}',
  '{"AgentVersion":{"toString":1},"RequestedClientActions":[]}',
  '{"HandshakeTimeToComplete":"x","CustomerMessage":{"a":[]}}',
  '{"__proto__":{"polluted":true},"Output":1}',
  '{"cols":-1,"rows":1e99}',
  '\u0000\u0001\u0002',
  '{"a":'.repeat(200),
  '[' .repeat(5000),
];

/** Makes the fuzz inputs one at a time (so `expected()` can follow the receiver). */
export function frameFuzzer(options: FuzzOptions): () => FuzzInput {
  const random = seededRandom(options.seed);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const bytes = (n: number) => {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = int(256);
    return out;
  };
  const uuid = () => {
    const hex = bytes(16).toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  };
  const junkJson = () => Buffer.from(random() < 0.8 ? pick(JUNK_JSON) : bytes(int(64)).toString('latin1'));
  const sequence = (): number => {
    const expected = options.expected();
    const choices = [
      () => -1 - int(1000), // negative
      () => Number.MIN_SAFE_INTEGER,
      () => expected - 1 - int(Math.max(1, expected)), // a duplicate, when there is history
      () => expected + 1 + int(50), // a small gap
      () => expected + 100_000 + int(1e9), // a huge gap
      () => Number.MAX_SAFE_INTEGER - int(10),
      () => 2 ** 62 + int(1000), // beyond exact doubles
    ];
    if (options.allowInOrder) choices.push(() => expected);
    return pick(choices)();
  };
  const frame = (fields: Partial<Frame>): Buffer =>
    encodeFrame({
      messageType: MessageType.OutputStreamData,
      schemaVersion: 1,
      createdDate: Date.now(),
      sequenceNumber: 0,
      flags: 0,
      messageId: uuid(),
      payloadType: PayloadType.Output,
      payload: bytes(int(200)),
      ...fields,
    });
  const validSequenced = () => frame({ sequenceNumber: sequence(), payloadType: pick([1, 2, 3, 10, 11, 12, 13, 99, 2 ** 31, 2 ** 32 - 1]) });
  const unknownType = () => {
    const length = 1 + int(32);
    let type = '';
    for (let i = 0; i < length; i++) type += String.fromCharCode(0x21 + int(0x5e));
    return KNOWN_TYPES.has(type) ? 'x_unknown' : type;
  };

  const generators: Array<[string, () => Buffer]> = [
    ['random bytes', () => bytes(int(400))],
    ['short header', () => validSequenced().subarray(0, int(PAYLOAD_OFFSET))],
    ['truncated payload', () => {
      const f = frame({ sequenceNumber: sequence(), payload: bytes(10 + int(200)) });
      return f.subarray(0, PAYLOAD_OFFSET + int(f.length - PAYLOAD_OFFSET));
    }],
    ['absurd header length', () => {
      const f = Buffer.from(validSequenced());
      f.writeUInt32BE(pick([0, 1, 115, 0x7fffffff, 0xffffffff, f.length, f.length - 3]), 0);
      return f;
    }],
    ['absurd payload length', () => {
      const f = Buffer.from(validSequenced());
      f.writeUInt32BE(pick([0xffffffff, 0x80000000, f.length, f.length - PAYLOAD_OFFSET + 1 + int(1000)]), 116);
      return f;
    }],
    ['non-ASCII message type', () => {
      const f = Buffer.from(validSequenced());
      const garbage = Buffer.from(pick(['\xff\xfe', 'ü', '\u{1F600}', 'a\u0000b', '\u00e9t\u00e9', 'tab\there']), pick(['utf8', 'latin1']));
      garbage.copy(f, 4 + int(8));
      return f;
    }],
    ['empty message type', () => {
      const f = Buffer.from(validSequenced());
      f.fill(pick([0x20, 0x00]), 4, 36);
      return f;
    }],
    ['zero created date', () => {
      const f = Buffer.from(validSequenced());
      f.fill(0, 40, 48);
      return f;
    }],
    ['bit flips', () => {
      const f = Buffer.from(validSequenced());
      for (let i = 1 + int(4); i > 0; i--) {
        const at = int(f.length);
        f[at] = f[at]! ^ (1 << int(8));
      }
      return f;
    }],
    ['digest mismatch', () => {
      const f = Buffer.from(frame({ sequenceNumber: sequence(), payload: bytes(1 + int(100)) }));
      const at = 80 + int(32);
      f[at] = f[at]! ^ 0xff;
      return f;
    }],
    ['unknown message type', () => frame({ messageType: unknownType(), sequenceNumber: sequence() })],
    ['sequenced, odd numbers and payload types', validSequenced],
    ['ack with junk JSON', () => frame({ messageType: MessageType.Acknowledge, payloadType: 0, payload: junkJson() })],
    ['handshake types with junk JSON', () =>
      frame({ sequenceNumber: sequence(), payloadType: pick([PayloadType.HandshakeRequest, PayloadType.HandshakeComplete, PayloadType.EncChallengeRequest]), payload: junkJson() })],
    ['publication control with junk', () => {
      const type = options.allowPause && random() < 0.5 ? MessageType.PausePublication : MessageType.StartPublication;
      const f = Buffer.from(frame({ messageType: type, payload: bytes(int(50)) }));
      if (random() < 0.5) f.fill(0, 40, 48); // control frames are not validated (§3.3)
      return f;
    }],
    ['agent_session_state with junk', () => frame({ messageType: MessageType.AgentSessionState, payload: junkJson() })],
  ];
  if (options.allowChannelClosed) {
    generators.push(['channel_closed with junk', () => frame({ messageType: MessageType.ChannelClosed, payload: junkJson() })]);
  }
  return () => {
    const [kind, make] = pick(generators);
    return { kind, bytes: make() };
  };
}
