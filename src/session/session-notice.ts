/**
 * Something a person running a session should hear about. The engine only reports
 * these (its 'notice' event); each CLI decides where and whether to show them, and the
 * library passes them on to its caller, never printing.
 */
export type SessionNotice =
  /** A handler's message to the user (the plugin's listener: `Port 8080 opened…`), shown as it is. */
  | { kind: 'message'; text: string }
  /** The agent's CustomerMessage from HandshakeComplete, e.g. `This session is encrypted using AWS KMS.` */
  | { kind: 'customer-message'; text: string }
  /** The connection broke; the session is being resumed. */
  | { kind: 'connection-lost' }
  /** The session was resumed on a new connection. */
  | { kind: 'connection-restored' };

/** The words for a notice, as the official plugin shows them (its line breaks included). */
export function noticeText(notice: SessionNotice): string {
  switch (notice.kind) {
    case 'message':
      return notice.text;
    case 'customer-message':
      return `${notice.text}\n`;
    case 'connection-lost':
      return '\nConnection to the session lost; re-establishing it...\n';
    case 'connection-restored':
      return 'Connection re-established.\n';
  }
}
