import t from 'tap';
import { EscapeFilter } from '../src/session/escape-filter.ts';

const run = (chunks: string[]) => {
  const filter = new EscapeFilter();
  let sent = '';
  for (const chunk of chunks) {
    const { data, disconnect } = filter.filter(Buffer.from(chunk));
    sent += data.toString();
    if (disconnect) return { sent, disconnect: true };
  }
  return { sent, disconnect: false };
};

t.test('~. at the start of a line disconnects', async (t) => {
  t.same(run(['~.']), { sent: '', disconnect: true });
  t.same(run(['ls\r', '~', '.']), { sent: 'ls\r', disconnect: true });
  t.same(run(['echo\r~.rest']), { sent: 'echo\r', disconnect: true });
});

t.test('~~ sends one tilde; other escapes pass through unchanged', async (t) => {
  t.same(run(['~~\r']), { sent: '~\r', disconnect: false });
  t.same(run(['~', 'x']), { sent: '~x', disconnect: false });
  t.same(run(['a~.']), { sent: 'a~.', disconnect: false }, 'not at line start');
  t.same(run(['cd ~/x\r']), { sent: 'cd ~/x\r', disconnect: false });
  t.same(run(['~~.']), { sent: '~.', disconnect: false }, '~~ then . is a literal ~.');
});
