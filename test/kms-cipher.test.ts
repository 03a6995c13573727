import t from 'tap';
import {
  CounterNonce,
  decryptPayload,
  encryptPayload,
  KMS_OVERHEAD_BYTES,
  KmsCipherError,
  splitDataKey,
} from '../src/protocol/kms-cipher.ts';

// PROTOCOL.md §8.4 vectors: key = bytes 00..3f, nonce = 00..0b.
const DATA_KEY = Buffer.from(Array.from({ length: 64 }, (_, i) => i));
const NONCE = Buffer.from(Array.from({ length: 12 }, (_, i) => i));
const CLIENT_LS = '000102030405060708090a0b302150796b6ce92de9e02938ee56f3d16b8741';
const AGENT_HELLO = '000102030405060708090a0b2f67ba77aae8c89300047a31533ff9d4164be444aedcfa';

t.test('splitDataKey splits 0..31 / 32..63', async (t) => {
  const { agentEncrypt, clientEncrypt } = splitDataKey(DATA_KEY);
  t.equal(agentEncrypt.toString('hex'), DATA_KEY.subarray(0, 32).toString('hex'));
  t.equal(clientEncrypt.toString('hex'), DATA_KEY.subarray(32).toString('hex'));
  t.throws(() => splitDataKey(Buffer.alloc(32)), KmsCipherError);
});

t.test('§8.4 vectors', async (t) => {
  const { agentEncrypt, clientEncrypt } = splitDataKey(DATA_KEY);
  t.equal(encryptPayload(clientEncrypt, Buffer.from('ls\r'), NONCE).toString('hex'), CLIENT_LS);
  t.equal(encryptPayload(agentEncrypt, Buffer.from('hello\r\n'), NONCE).toString('hex'), AGENT_HELLO);
  t.equal(decryptPayload(clientEncrypt, Buffer.from(CLIENT_LS, 'hex')).toString(), 'ls\r');
  t.equal(decryptPayload(agentEncrypt, Buffer.from(AGENT_HELLO, 'hex')).toString(), 'hello\r\n');
});

t.test('random nonce round trip and overhead', async (t) => {
  const { clientEncrypt } = splitDataKey(DATA_KEY);
  const a = encryptPayload(clientEncrypt, Buffer.from('abc'));
  const b = encryptPayload(clientEncrypt, Buffer.from('abc'));
  t.equal(a.length, 3 + KMS_OVERHEAD_BYTES);
  t.not(a.subarray(0, 12).toString('hex'), b.subarray(0, 12).toString('hex'));
  t.equal(decryptPayload(clientEncrypt, a).toString(), 'abc');
  t.equal(decryptPayload(clientEncrypt, encryptPayload(clientEncrypt, Buffer.alloc(0))).length, 0);
});

t.test('bad tag, wrong key, short input', async (t) => {
  const { agentEncrypt, clientEncrypt } = splitDataKey(DATA_KEY);
  const tampered = Buffer.from(AGENT_HELLO, 'hex');
  tampered[14]! ^= 1;
  const err = (fn: () => unknown): KmsCipherError | undefined => {
    try {
      fn();
    } catch (e) {
      return e as KmsCipherError;
    }
    return undefined;
  };
  t.equal(err(() => decryptPayload(agentEncrypt, tampered))?.code, 'auth-failed');
  t.ok(err(() => decryptPayload(agentEncrypt, tampered)) instanceof KmsCipherError);
  t.equal(err(() => decryptPayload(clientEncrypt, Buffer.from(AGENT_HELLO, 'hex')))?.code, 'auth-failed');
  t.equal(err(() => decryptPayload(agentEncrypt, Buffer.alloc(27)))?.code, 'too-short');
  t.equal(err(() => encryptPayload(Buffer.alloc(16), Buffer.alloc(1)))?.code, 'bad-key');
  t.equal(err(() => encryptPayload(agentEncrypt, Buffer.alloc(1), Buffer.alloc(8)))?.code, 'bad-nonce');
});

t.test('counter nonce: little-endian carry across three 32-bit words', async (t) => {
  const start = Buffer.from('ffffffffffffffff07000000', 'hex');
  const c = new CounterNonce(start);
  t.equal(c.next().toString('hex'), 'ffffffffffffffff07000000');
  t.equal(c.next().toString('hex'), '000000000000000008000000');
  t.equal(c.next().toString('hex'), '010000000000000008000000');
  const wrap = new CounterNonce(Buffer.alloc(12, 0xff));
  wrap.next();
  t.equal(wrap.next().toString('hex'), '000000000000000000000000');
  const r = new CounterNonce();
  const n1 = r.next();
  const n2 = r.next();
  t.not(n1.toString('hex'), n2.toString('hex'));
});
