import t from 'tap';
import { AgentChannel, type InputVerdict } from '../src/simulator/agent/agent-channel.ts';
import {
  agentSmuxKeepAlive,
  isForbiddenAddress,
  resolveDestination,
  selectAgentPortMode,
} from '../src/simulator/agent/port-session.ts';
import { decodeFrame, type Frame } from '../src/protocol/frame.ts';
import { decodeAcknowledgedSequence } from '../src/protocol/payloads.ts';
import { controlFrame, inputFrame as input } from './helpers/frame-builders.ts';

/*
 * The agent-channel pieces behind port-session backpressure (input hold / release, the
 * writable signal) and the pure decisions of the port plugin (mode, keep-alive,
 * destination checks).
 */

function harness() {
  const sent: Buffer[] = [];
  const heldEvents: boolean[] = [];
  let blocked = false;
  const channel = new AgentChannel({
    sessionId: 'sim-0123456789abcdef0',
    send: (frame) => sent.push(frame),
    transportBlocked: () => blocked,
    onInputHeld: (held) => heldEvents.push(held),
  });
  const handled: string[] = [];
  let handler: (frame: Frame) => InputVerdict = (frame) => {
    handled.push(frame.payload.toString());
    return 'accepted';
  };
  channel.setDataHandler((frame) => handler(frame));
  const acked = () =>
    sent
      .map((bytes) => decodeFrame(bytes))
      .filter((f) => f.messageType === 'acknowledge')
      .map((f) => decodeAcknowledgedSequence(f.payload));
  return {
    channel,
    handled,
    heldEvents,
    acked,
    setBlocked: (value: boolean) => {
      blocked = value;
    },
    setHandler: (h: (frame: Frame) => InputVerdict) => {
      handler = h;
    },
  };
}

t.test('held input is neither processed nor acked, then flows in order', async (t) => {
  const h = harness();
  h.setHandler((frame) => {
    h.handled.push(frame.payload.toString());
    if (frame.payload.toString() === 'b') h.channel.holdInput(); // e.g. a destination write returned false
    return 'accepted';
  });
  h.channel.receive(input(0, 'a'));
  h.channel.receive(input(1, 'b'));
  t.same(h.handled, ['a', 'b']);
  t.same(h.acked(), [0, 1], 'the frame whose write filled the buffer was taken and acked');
  t.ok(h.channel.inputHeld);
  t.same(h.heldEvents, [true]);
  h.channel.receive(input(2, 'c'));
  h.channel.receive(input(4, 'e')); // out of order: also kept back, not acked
  t.same(h.handled, ['a', 'b']);
  t.same(h.acked(), [0, 1], 'nothing is acked while held');
  h.channel.releaseInput();
  t.same(h.handled, ['a', 'b', 'c']);
  t.same(h.acked(), [0, 1, 2, 4]);
  t.same(h.heldEvents, [true, false]);
  h.channel.receive(input(3, 'd'));
  t.same(h.handled, ['a', 'b', 'c', 'd', 'e'], 'the buffered frame follows');
  h.channel.close();
});

t.test('a deferred frame is retried on release, or left for retransmission', async (t) => {
  const h = harness();
  let ready = false;
  h.setHandler((frame) => {
    if (!ready) {
      h.channel.holdInput(); // e.g. a re-dial in progress
      return 'not-ready';
    }
    h.handled.push(frame.payload.toString());
    return 'accepted';
  });
  h.channel.receive(input(0, 'x'));
  t.same(h.acked(), []);
  // A failed re-dial: the frame stays unacked.
  h.channel.releaseInput({ dropDeferred: true });
  t.same(h.acked(), []);
  t.notOk(h.channel.inputHeld);
  // The retransmission triggers another attempt, which succeeds.
  h.channel.receive(input(0, 'x'));
  ready = true;
  h.channel.releaseInput();
  t.same(h.handled, ['x']);
  t.same(h.acked(), [0]);
  h.channel.close();
});

t.test('writable combines publication pause and transport backpressure', async (t) => {
  const h = harness();
  let wakes = 0;
  h.channel.onWritable(() => wakes++);
  t.ok(h.channel.writable);
  h.setBlocked(true);
  t.notOk(h.channel.writable, 'a backed-up client connection blocks producers');
  h.channel.transportDrained();
  t.equal(wakes, 0, 'no wake while still blocked');
  h.setBlocked(false);
  h.channel.transportDrained();
  t.equal(wakes, 1);
  h.channel.transportDrained();
  t.equal(wakes, 1, 'only producers that waited are woken');
  h.channel.receive(controlFrame('pause_publication'));
  t.notOk(h.channel.writable);
  h.channel.receive(input(0, 'resume'));
  t.ok(h.channel.writable);
  t.equal(wakes, 2, 'publication resuming wakes producers too');
  h.channel.close();
});

t.test('mode, keep-alive and destination rules', async (t) => {
  const lpf = { portNumber: '80', type: 'LocalPortForwarding' };
  t.equal(selectAgentPortMode(lpf, '1.1.70', '3.0.197.0'), 'mux');
  t.equal(selectAgentPortMode(lpf, '1.1.69', '3.3.987.0'), 'basic');
  t.equal(selectAgentPortMode(lpf, undefined, '3.3.987.0'), 'basic');
  // versionutil.Compare (agent/versionutil/versionutil.go): "garbage" vs "1" compares as
  // text, and "g" sorts after "1", so the agent picks mux; an empty version is lower.
  t.equal(selectAgentPortMode(lpf, 'garbage', '3.3.987.0'), 'mux');
  t.equal(selectAgentPortMode(lpf, '', '3.3.987.0'), 'basic');
  t.equal(selectAgentPortMode(lpf, '1.1.70.0', '3.3.987.0'), 'mux', 'more parts is greater');
  t.equal(selectAgentPortMode(lpf, '1.2.700.0', '3.0.196.0'), 'basic', 'agents without mux');
  t.equal(selectAgentPortMode(lpf, '1.2.700.0', '2.3.722.0'), 'basic');
  t.equal(selectAgentPortMode({ portNumber: '22' }, '1.2.700.0', '3.3.987.0'), 'basic');
  t.equal(selectAgentPortMode({ portNumber: '22', type: 'Other' }, '1.2.700.0', '3.3.987.0'), 'basic');
  t.ok(agentSmuxKeepAlive('1.2.331.0'));
  t.notOk(agentSmuxKeepAlive('1.2.331.1'));
  t.notOk(agentSmuxKeepAlive('1.2.700.0'));

  // The agent's deny list (agent/appconfig/constants.go, DefaultDeniedPortForwardingRemoteIPs),
  // compared as Go's net.IP.Equal does (an IPv4-mapped address equals its IPv4 form).
  const denied = ['169.254.169.254', 'fd00:ec2::254', '169.254.169.253', 'fd00:ec2::253', '169.254.169.123', 'fd00:ec2::123', '169.254.169.250', '169.254.169.251', 'fd00:ec2::240'];
  for (const address of [...denied, '::ffff:169.254.169.254', 'FD00:EC2:0:0:0:0:0:254']) {
    t.ok(isForbiddenAddress(address), `${address} is forbidden`);
  }
  for (const address of ['127.0.0.1', '10.0.0.2', '::1', 'fd00::1', '169.254.170.2', 'fe80::1', '169.254.169.252']) {
    t.notOk(isForbiddenAddress(address), `${address} is allowed`);
  }

  t.same(await resolveDestination({ portNumber: '8080' }, false), { host: '', addresses: ['127.0.0.1'], port: 8080 });
  t.same(await resolveDestination({ portNumber: '8080', host: 'localhost' }, false), { host: 'localhost', addresses: ['127.0.0.1'], port: 8080 });
  t.same(await resolveDestination({ portNumber: '1', host: '127.0.0.2' }, false), { host: '127.0.0.2', addresses: ['127.0.0.2'], port: 1 });
  t.same(await resolveDestination({ portNumber: '1', host: 'no-such-host.invalid' }, false), { host: 'no-such-host.invalid', addresses: [], port: 1 }, 'a failed lookup is not an error (port.go ignores it)');
  await t.rejects(resolveDestination({ portNumber: '80', host: '169.254.169.254' }, true), {
    message: 'Forwarding to IP address 169.254.169.254 is forbidden.',
  });
  // port.go, validateParameters: the message names the host as given, not the address it resolved to.
  await t.rejects(resolveDestination({ portNumber: '80', host: '::ffff:169.254.169.254' }, true), {
    message: 'Forwarding to IP address ::ffff:169.254.169.254 is forbidden.',
  });
  await t.rejects(resolveDestination({ portNumber: '80', host: '10.1.2.3' }, false), { message: /loopback/ });
  await t.rejects(resolveDestination({ portNumber: '0' }, false), { message: /portNumber/ });
  await t.rejects(resolveDestination({ portNumber: 'http' }, false), { message: /portNumber/ });
});
