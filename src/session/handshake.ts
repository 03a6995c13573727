import { CLIENT_VERSION } from '../protocol/constants.ts';
import {
  ActionStatus,
  getFold,
  type HandshakeRequest,
  type HandshakeResponse,
  type ProcessedClientAction,
} from '../protocol/payloads.ts';

export const SESSION_TYPES = ['Standard_Stream', 'InteractiveCommands', 'NonInteractiveCommands', 'Port'] as const;
export type SessionType = (typeof SESSION_TYPES)[number];

export interface NegotiatedSession {
  agentVersion: string;
  sessionType: SessionType | undefined;
  properties: Record<string, unknown> | null;
}

/** Handles one requested action that needs outside work (KMS); returns its result or throws. */
export type ActionProcessor = (parameters: unknown) => Promise<unknown>;

function failed(actionType: string, reason: string): ProcessedClientAction {
  return { ActionType: actionType, ActionStatus: ActionStatus.Failed, ActionResult: null, Error: `Failed to process action ${actionType}: ${reason}` };
}

/**
 * Builds the HandshakeResponse (§4.5) for a HandshakeRequest (§4.4): one processed
 * action per requested action, in order. Unknown actions get ActionStatus 3
 * (Unsupported), not the official client's 0 (quirk Q20).
 */
export async function answerHandshake(
  request: HandshakeRequest,
  processors: Partial<Record<string, ActionProcessor>> = {},
): Promise<{ response: HandshakeResponse; session: NegotiatedSession }> {
  const session: NegotiatedSession = { agentVersion: request.AgentVersion, sessionType: undefined, properties: null };
  const actions: ProcessedClientAction[] = [];
  const errors: string[] = [];
  for (const action of request.RequestedClientActions) {
    let processed: ProcessedClientAction;
    if (action.ActionType === 'SessionType') {
      const raw = getFold(action.ActionParameters, 'SessionType');
      const type = typeof raw === 'string' ? raw : JSON.stringify(raw ?? '');
      const properties = getFold(action.ActionParameters, 'Properties');
      if ((SESSION_TYPES as readonly string[]).includes(type)) {
        session.sessionType = type as SessionType;
        session.properties = properties && typeof properties === 'object' ? (properties as Record<string, unknown>) : null;
        processed = { ActionType: action.ActionType, ActionStatus: ActionStatus.Success, ActionResult: null, Error: '' };
      } else {
        processed = failed(action.ActionType, `Unknown session type ${type}`);
      }
    } else if (Object.hasOwn(processors, action.ActionType) && processors[action.ActionType]) {
      try {
        const result = await processors[action.ActionType]!(action.ActionParameters);
        processed = { ActionType: action.ActionType, ActionStatus: ActionStatus.Success, ActionResult: result, Error: '' };
      } catch (err) {
        processed = failed(action.ActionType, err instanceof Error ? err.message : String(err));
      }
    } else {
      processed = {
        ActionType: action.ActionType,
        ActionStatus: ActionStatus.Unsupported,
        ActionResult: null,
        Error: `Unsupported action ${action.ActionType}`,
      };
    }
    if (processed.ActionStatus !== ActionStatus.Success) errors.push(processed.Error);
    actions.push(processed);
  }
  return {
    response: { ClientVersion: CLIENT_VERSION, ProcessedClientActions: actions, Errors: errors.length ? errors : null },
    session,
  };
}
