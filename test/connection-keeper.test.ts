import t from 'tap';
import { once } from 'node:events';
import { ConnectionKeeper, type Connector } from '../src/session/connection-keeper.ts';
import { ResumeRefusedError } from '../src/session/session-contract.ts';
import type { SessionError } from '../src/session/errors.ts';
import { ConfigurationError } from '../src/net/tls-trust.ts';
import { ConnectError, UntrustedCertificateError } from '../src/transport/websocket-transport.ts';
import { memoryLink } from '../src/transport/memory-transport.ts';
import { silentLogger } from '../src/util/logger.ts';

function keeper(connect: Connector, resume?: (id: string) => Promise<{ tokenValue: string | undefined; streamUrl: string | undefined }>) {
  return new ConnectionKeeper({
    sessionId: 'sess-k',
    tokenValue: 'tok',
    streamUrl: 'ws://unused',
    connect,
    resume,
    logger: silentLogger,
    firstAttempts: 3,
    maxBackoffMs: 1,
  });
}

t.test('first connection: errors of a final type stop at once, others are retried', async (t) => {
  for (const [error, attempts] of [
    [new ConfigurationError('cannot read AWS_CA_BUNDLE /x.pem'), 1],
    [new UntrustedCertificateError('the certificate is not trusted'), 1],
    [new ConnectError('connect ECONNREFUSED'), 3],
    // The type decides, not the name: an error merely called ConfigurationError is retried.
    [Object.assign(new Error('named like one'), { name: 'ConfigurationError' }), 3],
  ] as const) {
    let calls = 0;
    const k = keeper(async () => {
      calls++;
      throw error;
    });
    k.start();
    const [failure] = (await once(k, 'failed')) as [SessionError];
    t.equal(calls, attempts, `${error.constructor.name} ${error.message}: ${attempts} attempt(s)`);
    t.equal(failure.message, error.message);
    k.stop();
  }
});

t.test('reconnect: a ResumeRefusedError ends the session; other resume errors are retried', async (t) => {
  for (const [error, resumes] of [
    [new ResumeRefusedError('Session sess-k does not exist'), 1],
    [Object.assign(new Error('throttled'), { name: 'ThrottlingException' }), 3],
  ] as const) {
    let calls = 0;
    const links: Array<ReturnType<typeof memoryLink>> = [];
    const k = keeper(
      async () => {
        const link = memoryLink();
        links.push(link);
        return link[0];
      },
      async () => {
        calls++;
        if (calls < 3) throw error;
        return { tokenValue: undefined, streamUrl: undefined };
      },
    );
    k.start();
    await once(k, 'transport');
    // Something arrives, then the connection breaks: the keeper resumes.
    links[0]![1].send(Buffer.from('frame'));
    await once(links[0]![0], 'frame');
    links[0]![1].close();
    const [failure] = (await once(k, 'failed')) as [SessionError];
    t.equal(calls, resumes, `${error.name}: ${resumes} ResumeSession call(s)`);
    t.equal(
      failure.message,
      resumes === 1 ? 'the session cannot be resumed: Session sess-k does not exist' : 'Session: sess-k timed out.',
    );
    k.stop();
  }
});
