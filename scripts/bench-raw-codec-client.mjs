// The ceiling any client can reach through the simulator's mux port: a process that only
// sends frames. It answers the handshake (as a mux-capable client), then sends a whole
// upload (the port-traffic header and bytes in smux v1 frames, cut into 1 KiB payloads,
// every frame encoded before the clock starts) as fast as the socket takes it, acks the
// agent's few frames, and only counts the acks of its own: at most WINDOW frames are
// unacknowledged (without a limit the agent's 4 MiB smux buffer fills and the service
// stops and starts reading the socket over and over). Started by bench-port.mjs:
//
//   node scripts/bench-raw-codec-client.mjs <StreamUrl> <TokenValue> <upload bytes> <seed>
//
// Prints `sending` on stdout when the first data frame goes; the parent times the upload
// from there to the destination's digest.
import WebSocket from 'ws';
import { encodeFrame, decodeFrame } from '../src/protocol/frame.ts';
import { writeAcknowledgeFrame } from '../src/protocol/control-frames.ts';
import { STREAM_CHUNK_SIZE } from '../src/protocol/constants.ts';
import { decodeHandshakeRequest } from '../src/protocol/payloads.ts';
import { newUuid } from '../src/protocol/uuid.ts';
import { encodeFrame as encodeSmux, CMD_SYN, CMD_PSH, MAX_FRAME_SIZE } from '../src/smux/frame.ts';
import { ByteGenerator, HEADER_BYTES } from '../test/helpers/port-traffic.ts';

const [url, token, uploadArg, seedArg] = process.argv.slice(2);
const upload = Number(uploadArg);
const seed = Number(seedArg);
const CLIENT_VERSION = '1.2.700.0'; // ≥ 1.1.70: the agent speaks smux (port_mux.go)
const STREAM_ID = 1;
const WINDOW = 2048;

// The carrier: SYN, then the header and the upload in PSH frames of up to 32 KiB.
const pieces = [encodeSmux(CMD_SYN, STREAM_ID)];
const header = Buffer.alloc(HEADER_BYTES);
header.writeUInt32LE(seed, 0);
header.writeUInt32LE(upload, 4);
pieces.push(encodeSmux(CMD_PSH, STREAM_ID, header));
const generator = new ByteGenerator(seed, 'up', upload);
for (let chunk = generator.next(); chunk; chunk = generator.next()) {
  for (let at = 0; at < chunk.length; at += MAX_FRAME_SIZE) pieces.push(encodeSmux(CMD_PSH, STREAM_ID, chunk.subarray(at, at + MAX_FRAME_SIZE)));
}
const carrier = Buffer.concat(pieces);

let sequence = 0;
const input = (payloadType, payload) =>
  encodeFrame({ messageType: 'input_stream_data', schemaVersion: 1, createdDate: Date.now(), sequenceNumber: sequence++, flags: 0, payloadType, payload });

// A zero mask, as the plugin uses on loopback (websocket-transport.ts, maskingIsMoot): the
// simulator then has no unmasking to do for either client.
const ws = new WebSocket(url, { perMessageDeflate: false, generateMask: (mask) => mask.fill(0) });
ws.on('error', (err) => {
  process.stderr.write(`raw codec client: ${err.message}\n`);
  process.exit(1);
});
ws.on('open', () => ws.send(JSON.stringify({ MessageSchemaVersion: '1.0', RequestId: newUuid(), TokenValue: token, ClientId: newUuid(), ClientVersion: CLIENT_VERSION })));
let started = false;
let acked = 0;
let onAck;
ws.on('message', (data) => {
  // An ack is counted from its type's first bytes ("ac"), nothing more.
  if (data[4] === 0x61 && data[5] === 0x63) {
    acked++;
    onAck?.();
    return;
  }
  const frame = decodeFrame(data, { verifyDigest: false, messageId: false });
  if (frame.messageType !== 'output_stream_data') return;
  ws.send(writeAcknowledgeFrame(data, frame.messageType, frame.sequenceNumber));
  if (frame.payloadType === 5) {
    const request = decodeHandshakeRequest(frame.payload);
    const answer = {
      ClientVersion: CLIENT_VERSION,
      ProcessedClientActions: (request?.RequestedClientActions ?? []).map((a) => ({ ActionType: a.ActionType, ActionStatus: 1, ActionResult: null, Error: '' })),
      Errors: [],
    };
    ws.send(input(6, Buffer.from(JSON.stringify(answer))));
  } else if (frame.payloadType === 7 && !started) {
    started = true;
    start();
  }
});

function start() {
  const frames = [];
  for (let at = 0; at < carrier.length; at += STREAM_CHUNK_SIZE) frames.push(input(1, carrier.subarray(at, at + STREAM_CHUNK_SIZE)));
  process.stdout.write('sending\n');
  let next = 0;
  const firstSequence = sequence - frames.length;
  let waitingForAcks = false;
  // As the raw ws row: up to 4 MiB queued in the socket, topped up once it is below 1 MiB.
  const pump = () => {
    while (next < frames.length) {
      // Acks so far cover the handshake response too (one frame before the data).
      if (firstSequence + next - acked >= WINDOW) {
        waitingForAcks = true;
        return;
      }
      ws.send(frames[next++]);
      if (ws.bufferedAmount > 4 * 1024 * 1024) return void setImmediate(wait);
    }
  };
  const wait = () => (ws.bufferedAmount > 1024 * 1024 ? setImmediate(wait) : pump());
  onAck = () => {
    if (waitingForAcks && firstSequence + next - acked < WINDOW - WINDOW / 8) {
      waitingForAcks = false;
      pump();
    }
  };
  pump();
}
process.on('SIGTERM', () => process.exit(0));
