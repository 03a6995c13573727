import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { ClientError } from './errors.ts';
import type { PoolOptions } from './forward-types.ts';
import type { ClientPortSession } from './port-session.ts';
import type { SessionOutcome, SessionState } from './session.ts';

export const DEFAULT_MAX_SESSIONS = 8;
export const DEFAULT_IDLE_TIMEOUT_MS = 5000;

/** A stream from the pool, with the session that carries it. */
export interface Lease {
  readonly session: ClientPortSession;
  readonly stream: Duplex;
  /** Call once the stream is no longer used (idempotent). */
  release(): void;
}

interface Member {
  session: ClientPortSession | undefined;
  readonly starting: Promise<ClientPortSession>;
  /** Streams handed out or being opened. */
  load: number;
  closed: boolean;
  idleTimer: NodeJS.Timeout | undefined;
}

/**
 * Port sessions to one destination, shared by the connections to it. The agent paces
 * each session (1 KiB per ms, about 1 MB/s), so each connection gets a session of its
 * own while fewer than `maxSessions` run; past that, a new connection becomes one more
 * smux stream on the least-loaded session. A session without streams is kept for
 * `idleTimeoutMs` (a next connection reuses it at once), then terminated.
 *
 * Events: 'session-started' (session), 'session-state' (session, state),
 * 'session-closed' (session, outcome), 'empty' when the last session is gone and
 * nothing waits.
 */
export class SessionPool extends EventEmitter {
  readonly maxSessions: number;
  readonly idleTimeoutMs: number;
  private readonly open: () => Promise<ClientPortSession>;
  private readonly members = new Set<Member>();
  private started = 0;
  private closed = false;

  constructor(open: () => Promise<ClientPortSession>, options: PoolOptions = {}) {
    super();
    this.open = open;
    this.maxSessions = Math.max(1, Math.floor(options.maxSessions ?? DEFAULT_MAX_SESSIONS));
    this.idleTimeoutMs = Math.max(0, options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
  }

  /** Sessions running now (started and not over). */
  get sessions(): ClientPortSession[] {
    const live: ClientPortSession[] = [];
    for (const member of this.members) if (member.session && !member.closed) live.push(member.session);
    return live;
  }

  get sessionsStarted(): number {
    return this.started;
  }

  /** A stream on the best session for a new connection; rejects with a ClientError when none can be had. */
  async acquire(): Promise<Lease> {
    if (this.closed) throw new ClientError('session-closed', 'the forward is closed');
    const member = this.pick();
    member.load++;
    if (member.idleTimer) clearTimeout(member.idleTimer);
    member.idleTimer = undefined;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.release(member);
    };
    try {
      const session = await member.starting;
      const stream = await session.openStream();
      return { session, stream, release };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Terminates every session (waiting for those still starting). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.members];
    for (const member of all) if (member.idleTimer) clearTimeout(member.idleTimer);
    await Promise.all(all.map((member) => member.starting.then((session) => session.terminate(), () => undefined)));
  }

  /** An idle session if there is one, else a new one while below the cap, else the least loaded. */
  private pick(): Member {
    let best: Member | undefined;
    let live = 0;
    for (const member of this.members) {
      if (member.closed || member.session?.state === 'closed') continue;
      live++;
      if (member.load === 0) return member;
      if (!best || member.load < best.load) best = member;
    }
    if (live < this.maxSessions || !best) return this.startMember();
    return best;
  }

  private startMember(): Member {
    this.started++;
    const member: Member = {
      session: undefined,
      starting: this.open(),
      load: 0,
      closed: false,
      idleTimer: undefined,
    };
    this.members.add(member);
    member.starting.then(
      (session) => this.onStarted(member, session),
      () => this.forget(member),
    );
    return member;
  }

  private onStarted(member: Member, session: ClientPortSession): void {
    member.session = session;
    this.emit('session-started', session);
    session.on('state', (state: SessionState) => {
      // Closed now, though `done` may wait a few seconds for TerminateSession: no new streams here.
      if (state === 'closed') this.retire(member);
      this.emit('session-state', session, state);
    });
    void session.done.then((outcome: SessionOutcome) => {
      this.retire(member);
      this.emit('session-closed', session, outcome);
    });
    if (this.closed) void session.terminate();
    else if (member.load === 0) this.armIdle(member);
  }

  /** A started session is over (its outcome may follow later). */
  private retire(member: Member): void {
    if (!member.closed) this.forget(member);
  }

  private forget(member: Member): void {
    member.closed = true;
    if (member.idleTimer) clearTimeout(member.idleTimer);
    this.members.delete(member);
    this.emitIfEmpty();
  }

  private release(member: Member): void {
    member.load--;
    if (member.load === 0 && member.session && !member.closed) this.armIdle(member);
  }

  private armIdle(member: Member): void {
    member.idleTimer = setTimeout(() => {
      member.idleTimer = undefined;
      if (member.load === 0 && !member.closed) void member.session?.terminate();
    }, this.idleTimeoutMs);
    member.idleTimer.unref();
  }

  private emitIfEmpty(): void {
    if (this.members.size === 0) this.emit('empty');
  }
}
