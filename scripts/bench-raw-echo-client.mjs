// The baseline of the keystroke-echo figures (bench.mjs, keystrokeFigures): a shell-session
// client written from the codec alone, as lean as a client can be (no session layer, no
// local terminal, no digest check, zero mask as the plugin uses on loopback), in its own
// process. It sends the terminal size the plugin's pty has, answers a handshake if the
// agent asks for one, and then types one key per command from its parent and times the key itself, from just
// before the send to the output frame that carries the echo (the ack goes after, as the
// plugin acknowledges after its stdout write). Started by bench.mjs:
//
//   node scripts/bench-raw-echo-client.mjs <StreamUrl> <TokenValue> <cols> <rows>
//
// Its stdin takes one command per line: `k<char>` types <char> and answers with the echo
// time in ms; `c` clears the line (Ctrl-U, Enter) and answers `cleared` at the next
// prompt; `q` sends `exit`. It prints `ready` at the first prompt.
import WebSocket from 'ws';
import { createInterface } from 'node:readline';
import { encodeFrame, decodeFrame } from '../src/protocol/frame.ts';
import { writeAcknowledgeFrame } from '../src/protocol/control-frames.ts';
import { decodeHandshakeRequest } from '../src/protocol/payloads.ts';
import { newUuid } from '../src/protocol/uuid.ts';

const [url, token, colsArg, rowsArg] = process.argv.slice(2);
const CLIENT_VERSION = '1.2.700.0';
const OUTPUT = 1;
const SIZE = 3;
const HANDSHAKE_REQUEST = 5;
const HANDSHAKE_RESPONSE = 6;

let sequence = 0;
const send = (payloadType, payload) =>
  ws.send(encodeFrame({ messageType: 'input_stream_data', schemaVersion: 1, createdDate: Date.now(), sequenceNumber: sequence++, flags: 0, payloadType, payload }));

/** What the current command waits for in the output: a key's echo, or a prompt. */
let waiting = { prompt: true, answer: () => 'ready' };
let screen = '';
let expected = 0;
const ws = new WebSocket(url, { perMessageDeflate: false, generateMask: (mask) => mask.fill(0) });
ws.on('error', (err) => {
  process.stderr.write(`raw echo client: ${err.message}\n`);
  process.exit(1);
});
ws.on('open', () => {
  ws.send(JSON.stringify({ MessageSchemaVersion: '1.0', RequestId: newUuid(), TokenValue: token, ClientId: newUuid(), ClientVersion: CLIENT_VERSION }));
  send(SIZE, Buffer.from(JSON.stringify({ cols: Number(colsArg), rows: Number(rowsArg) })));
});
ws.on('message', (data) => {
  // Acks of our input (type "acknowledge") need nothing: no window, no resends here.
  if (data[4] === 0x61 && data[5] === 0x63) return;
  const frame = decodeFrame(data, { verifyDigest: false, messageId: false });
  if (frame.messageType !== 'output_stream_data') return;
  // The loopback TCP connection neither loses nor reorders: in order is all there is, and
  // a duplicate (a resend of something already acked) is only acked again.
  const fresh = frame.sequenceNumber === expected;
  if (fresh) {
    expected++;
    if (frame.payloadType === OUTPUT) onOutput(frame.payload.toString('latin1'));
  }
  ws.send(writeAcknowledgeFrame(data, frame.messageType, frame.sequenceNumber));
  if (!fresh) return;
  if (frame.payloadType === HANDSHAKE_REQUEST) {
    const request = decodeHandshakeRequest(frame.payload);
    const answer = {
      ClientVersion: CLIENT_VERSION,
      ProcessedClientActions: (request?.RequestedClientActions ?? []).map((a) => ({ ActionType: a.ActionType, ActionStatus: 1, ActionResult: null, Error: '' })),
      Errors: [],
    };
    send(HANDSHAKE_RESPONSE, Buffer.from(JSON.stringify(answer)));
  }
});

function onOutput(text) {
  const now = performance.now();
  screen += text;
  if (!waiting) return;
  const done = waiting.prompt ? screen.endsWith('$ ') : text.includes(waiting.key);
  if (!done) return;
  const answer = waiting.answer(now);
  waiting = undefined;
  screen = '';
  process.stdout.write(`${answer}\n`);
}

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.startsWith('k')) {
    const key = line.slice(1);
    screen = '';
    const start = performance.now();
    waiting = { key, answer: (at) => String(at - start) };
    send(OUTPUT, Buffer.from(key));
  } else if (line === 'c') {
    screen = '';
    waiting = { prompt: true, answer: () => 'cleared' };
    send(OUTPUT, Buffer.from('\x15\r'));
  } else if (line === 'q') {
    send(OUTPUT, Buffer.from('\x15exit\r'));
  }
});
ws.on('close', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
