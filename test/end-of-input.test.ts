// When piped input ends, the Ctrl-D for the remote shell waits for an idle prompt.
import t from 'tap';
import { EndOfInput, type Schedule } from '../src/session/end-of-input.ts';

/** A manual clock: timers run only when the test advances time. */
function manualClock() {
  let now = 0;
  let timers: Array<{ at: number; run: () => void; live: boolean }> = [];
  const schedule: Schedule = (run, ms) => {
    const timer = { at: now + ms, run, live: true };
    timers.push(timer);
    return () => (timer.live = false);
  };
  const advance = (ms: number) => {
    const end = now + ms;
    for (;;) {
      const next = timers.filter((x) => x.live && x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      now = next.at;
      next.live = false;
      next.run();
    }
    now = end;
    timers = timers.filter((x) => x.live);
  };
  return { schedule, advance };
}

async function setup() {
  const clock = manualClock();
  let sent = 0;
  let deliver: () => void = () => {};
  const delivered = new Promise<void>((resolve) => (deliver = resolve));
  const eoi = new EndOfInput(() => sent++, () => delivered, clock.schedule);
  return { clock, eoi, sends: () => sent, deliver: async () => (deliver(), await delivered, await Promise.resolve()) };
}

t.test('waits for the input to be acknowledged and the output to pause', async (t) => {
  const { clock, eoi, sends, deliver } = await setup();
  eoi.begin();
  clock.advance(5000);
  t.equal(sends(), 0, 'nothing while our input is unacknowledged');
  await deliver();
  eoi.outputArrived(); // the command's output and the next prompt
  clock.advance(200);
  eoi.outputArrived();
  clock.advance(200);
  t.equal(sends(), 0, 'nothing while output keeps coming');
  clock.advance(60);
  t.equal(sends(), 1, 'one Ctrl-D once output paused for 250 ms');
  clock.advance(10_000);
  t.equal(sends(), 1, 'no more while the remote side is quiet');
});

t.test('sends again when a command took the Ctrl-D and a prompt came back', async (t) => {
  const { clock, eoi, sends, deliver } = await setup();
  eoi.begin();
  await deliver();
  eoi.outputArrived();
  clock.advance(300);
  t.equal(sends(), 1);
  eoi.outputArrived(); // e.g. `cat` ended on it and the shell printed its prompt
  clock.advance(300);
  t.equal(sends(), 2);
  for (let i = 0; i < 10; i++) {
    eoi.outputArrived();
    clock.advance(300);
  }
  t.equal(sends(), 4, 'at most four');
});

t.test('without any output it still sends, after two seconds', async (t) => {
  const { clock, eoi, sends, deliver } = await setup();
  eoi.begin();
  await deliver();
  clock.advance(1900);
  t.equal(sends(), 0);
  clock.advance(200);
  t.equal(sends(), 1);
});

t.test('stop() cancels; output before the end of input arms nothing', async (t) => {
  const { clock, eoi, sends, deliver } = await setup();
  eoi.outputArrived();
  clock.advance(1000);
  t.equal(sends(), 0);
  eoi.begin();
  await deliver();
  eoi.outputArrived();
  eoi.stop();
  clock.advance(10_000);
  t.equal(sends(), 0);
});
