import type { NegotiatedSession } from '../session/handshake.ts';
import { SessionEngine, type SessionEngineOptions } from '../session/session-engine.ts';
import type { SessionHandler } from '../session/session-handler.ts';
import { noticeText, type SessionNotice } from '../session/session-notice.ts';
import type { SessionOutcome, SessionState } from '../session/session-contract.ts';

export interface PluginSessionOptions extends SessionEngineOptions {
  /** Printed once the right stream for it is known (stdout, or stderr in ssh mode, Q11). */
  banner?: string;
}

/**
 * The plugin's session: the engine, with its notices shown as the official plugin shows
 * them. Messages go to stdout, or to stderr once stdout carries session data (ssh mode,
 * Q11); connection notices always to stderr. The banner comes first: at once for a
 * person at a terminal, else as soon as the right stream is known.
 */
export class PluginSession extends SessionEngine {
  private readonly banner: string | undefined;
  private readonly io: SessionEngineOptions['io'];
  private bannerShown = false;
  private noticeStream: NodeJS.WritableStream;

  constructor(options: PluginSessionOptions) {
    super(options);
    this.banner = options.banner;
    this.io = options.io;
    this.noticeStream = options.io.stdout;
    this.on('negotiated', (handler: SessionHandler, _session: NegotiatedSession) => {
      if (handler.dataOnStdout) this.noticeStream = this.io.stderr;
      this.showBanner();
    });
    this.on('notice', (notice: SessionNotice) => this.render(notice));
    this.on('state', (state: SessionState) => state === 'closed' && this.showBanner());
  }

  /** Where user-facing messages go (stderr once stdout carries session data). */
  get notices(): NodeJS.WritableStream {
    return this.noticeStream;
  }

  override run(): Promise<SessionOutcome> {
    // A person sees the banner at once; a program reading stdout gets it on the right stream.
    if (this.io.stdout.isTTY) this.showBanner();
    return super.run();
  }

  private render(notice: SessionNotice): void {
    if (notice.kind === 'connection-lost' || notice.kind === 'connection-restored') {
      this.io.stderr.write(noticeText(notice));
      return;
    }
    this.showBanner();
    this.noticeStream.write(noticeText(notice));
  }

  private showBanner(): void {
    if (this.bannerShown || !this.banner) return;
    this.bannerShown = true;
    this.noticeStream.write(this.banner);
  }
}
