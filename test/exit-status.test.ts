import t from 'tap';
import { EventEmitter } from 'node:events';
import { exitStatus } from '../src/util/exit-status.ts';
import { onSignals, SESSION_SIGNALS } from '../src/util/signals.ts';

t.test('a remote exit code as our exit status, the same for both CLIs', async (t) => {
  t.equal(exitStatus(undefined), 0, 'none reported');
  t.equal(exitStatus(0), 0);
  t.equal(exitStatus(3), 3);
  t.equal(exitStatus(255), 255);
  t.equal(exitStatus(256), 255, 'out of range');
  t.equal(exitStatus(-1), 255, 'killed by a signal');
  t.equal(exitStatus(1.5), 255, 'not an integer');
});

t.test('both CLIs pass the same signals to a session', async (t) => {
  t.same([...SESSION_SIGNALS], ['SIGINT', 'SIGQUIT', 'SIGTSTP', 'SIGTERM', 'SIGHUP']);
  const source = new EventEmitter();
  const seen: string[] = [];
  const stop = onSignals(SESSION_SIGNALS, (name) => seen.push(name), 'linux', source as never);
  for (const name of SESSION_SIGNALS) source.emit(name, name);
  stop();
  source.emit('SIGINT', 'SIGINT');
  t.same(seen, [...SESSION_SIGNALS], 'each passed on once, none after stopping');
});
