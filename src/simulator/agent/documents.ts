import { ShellSession } from './shell-session.ts';
import type { PluginContext, SessionPlugin, SessionType } from './session-plugin.ts';

/**
 * Session documents the simulated agent understands, keyed by StartSession DocumentName.
 * This is the extension point for Port (AWS-StartPortForwardingSession, ...ToRemoteHost,
 * AWS-StartSSHSession), InteractiveCommands and NonInteractiveCommands documents, and for
 * KMS-encrypted shells: add an entry with its session type, whether it handshakes without
 * KMS (§5.2), its handshake properties and a plugin factory.
 */
export interface SessionDocument {
  readonly sessionType: SessionType;
  /** Whether the agent performs a handshake even without KMS (§5.2). */
  readonly handshake: boolean;
  /** Properties for the SessionType action (null for shell-like types, §4.4). */
  properties(parameters: Readonly<Record<string, readonly string[]>>): Record<string, string> | null;
  /** Text for HandshakeComplete.CustomerMessage, given the client's version (§11.3). */
  customerMessage?(clientVersion: string): string;
  createPlugin(context: PluginContext): SessionPlugin;
}

/** What the service uses when StartSession names no document. */
export const DEFAULT_DOCUMENT = 'SSM-SessionManagerRunShell';

const standardShell: SessionDocument = {
  sessionType: 'Standard_Stream',
  handshake: false, // plain shells skip the handshake unless KMS is on (§11.3)
  properties: () => null,
  createPlugin: (context) => new ShellSession(context),
};

const documents = new Map<string, SessionDocument>([[DEFAULT_DOCUMENT, standardShell]]);

export function findDocument(name: string | undefined): SessionDocument | undefined {
  return documents.get(name ?? DEFAULT_DOCUMENT);
}

/** Adds or replaces a document (used by later session types and by tests). */
export function registerDocument(name: string, document: SessionDocument): void {
  documents.set(name, document);
}
