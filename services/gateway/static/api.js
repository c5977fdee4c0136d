// Calls to the gateway: native ChatKit requests on POST /chatkit, JSON or streamed.

export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }

  /** A sentence for the reader. */
  get friendly() {
    if (this.status === 429) return "Too many questions at once; try again in a moment.";
    if (this.status === 401) return "You are not signed in.";
    if (this.status >= 500) return `The assistant is unavailable (${this.message})`;
    return this.message;
  }
}

async function failure(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    /* not JSON */
  }
  const error = body.error || {};
  return new ApiError(
    response.status,
    error.code || "error",
    error.message || `HTTP ${response.status}`,
    error.request_id || response.headers.get("x-request-id"),
  );
}

function post(request, signal) {
  return fetch("/chatkit", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(request),
    signal,
  });
}

/** A non-streaming ChatKit request (threads.list, threads.update, ...): its JSON answer. */
export async function call(type, params = {}) {
  const response = await post({ type, params });
  if (!response.ok) throw await failure(response);
  return response.json();
}

/** A streaming ChatKit request: the Response whose body is the event stream. */
export async function stream(type, params, metadata, signal) {
  const response = await post({ type, params, metadata: metadata || {} }, signal);
  if (!response.ok) throw await failure(response);
  return response;
}

/** A user message input for threads.create / threads.add_user_message: `content` is the
 * text, or its ChatKit content parts (text and @-mention tags). */
export function userInput(content, quotedText) {
  return {
    content: typeof content === "string" ? [{ type: "input_text", text: content }] : content,
    attachments: [],
    quoted_text: quotedText || null,
    inference_options: {},
  };
}
