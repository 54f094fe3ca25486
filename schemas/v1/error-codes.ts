/**
 * The error-code registry: every stable string code carried by an `error` message, a failed
 * `response`, or an error the reference client raises locally. The spec's table is generated from
 * this one (`npm run gen:spec`) and a test fails when they differ. Codes are never reused.
 */
export interface ErrorCodeInfo {
  code: string;
  /**
   * Where the code appears: an `error` message, a failed `response`, both (`error_or_response`: the
   * meaning says which message gets which), or only in a client's local reports (`client`).
   */
  in: 'error' | 'response' | 'error_or_response' | 'client';
  meaning: string;
  rules: string[];
}

export const ERROR_CODES = {
  invalid_json: { code: 'invalid_json', in: 'error', meaning: 'A text frame was not valid JSON. The connection stays open.', rules: ['ERR-1'] },
  invalid_message: { code: 'invalid_message', in: 'error', meaning: 'A message failed the schema (unknown type, missing or ill-typed field, bad channel name); the text says which field. The `error` carries no `requestId` or `channel`, and a malformed `request` gets no `response`. The connection stays open.', rules: ['ERR-2', 'SUB-1'] },
  binary_not_supported: { code: 'binary_not_supported', in: 'error', meaning: 'A binary frame arrived; v1 carries JSON text frames only. The connection stays open.', rules: ['VER-6'] },
  duplicate_request_id: { code: 'duplicate_request_id', in: 'error', meaning: 'A request reused the id of a request still pending on this connection; it is not executed. `requestId` is that shared id: the pending request is still answered and is not failed by this error.', rules: ['REQ-4'] },
  forbidden: { code: 'forbidden', in: 'error_or_response', meaning: 'The user may not use this channel: a refused `subscribe` gets an `error` naming the channel (SUB-4); a refused request, such as the `publish` action of the conformance profile (CONF-2), gets a failed `response`.', rules: ['SUB-4', 'CONF-2'] },
  subscription_limit: { code: 'subscription_limit', in: 'error', meaning: 'The connection already has maxSubscriptions channels.', rules: ['LIMIT-4'] },
  too_many_requests: { code: 'too_many_requests', in: 'error', meaning: 'A request arrived while the connection already had maxPendingRequests requests pending; it is not executed and gets no `response`. `requestId` is the id of the refused request. The connection stays open.', rules: ['LIMIT-5'] },
  too_deep: { code: 'too_deep', in: 'error', meaning: 'A message nested arrays and objects deeper than maxDepth; it is not processed (a request in it is not executed and gets no `response`, a publish reaches no channel). The `error` carries no `requestId` or `channel`. The connection stays open. Added in v1.2.', rules: ['LIMIT-6'] },
  user_mismatch: { code: 'user_mismatch', in: 'error', meaning: 'An in-band re-auth presented a valid token of another user; the session keeps its identity.', rules: ['AUTH-9'] },
  unknown_action: { code: 'unknown_action', in: 'response', meaning: 'No handler exists for the request action.', rules: ['REQ-2'] },
  invalid_payload: { code: 'invalid_payload', in: 'response', meaning: 'The payload does not fit what the action expects.', rules: ['REQ-8'] },
  internal_error: { code: 'internal_error', in: 'error_or_response', meaning: 'The server failed: a failed response when an action failed (REQ-7), an error message naming the channel when a subscription could not be started; no details are given (ERR-3).', rules: ['REQ-7', 'ERR-3'] },
  timeout: { code: 'timeout', in: 'client', meaning: 'The client gave up waiting for a response after its request timeout.', rules: ['REQ-5'] },
  disconnected: { code: 'disconnected', in: 'client', meaning: 'The connection ended while the request was pending; it is never replayed.', rules: ['REQ-6'] },
  closed: { code: 'closed', in: 'client', meaning: 'The application closed the client (or it stopped for good) before or while the request was pending.', rules: ['REQ-6'] },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;
