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

/**
 * A client of one gateway. `url`: its ChatKit endpoint (ChatKit's `api.url`; default this
 * page's `/chatkit`), other calls go to the same base (`/api/...`). `fetch`: ChatKit's
 * custom `api.fetch`. `token`: a bearer token, or a function giving one (async allowed).
 * `credentials`: "include" to send the gateway's cookie from another site.
 */
export function gatewayClient({ url = "/chatkit", fetch: customFetch, token, credentials = "same-origin" } = {}) {
  const base = url.replace(/\/chatkit\/?$/, "");
  async function request(path, init = {}) {
    const headers = new Headers(init.headers);
    const bearer = typeof token === "function" ? await token() : token;
    if (bearer) headers.set("authorization", `Bearer ${bearer}`);
    return (customFetch || fetch)(path === "/chatkit" ? url : base + path, { ...init, headers, credentials });
  }
  const post = (body, signal) =>
    request("/chatkit", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal,
    });
  return {
    base,
    request,
    /** A non-streaming ChatKit request (threads.list, threads.update, ...): its JSON answer. */
    async call(type, params = {}) {
      const response = await post({ type, params });
      if (!response.ok) throw await failure(response);
      return response.json();
    },
    /** A streaming ChatKit request: the Response whose body is the event stream. It is
     * resumable: a dropped connection leaves the answer running for a while (`resume`). */
    async stream(type, params, metadata, signal) {
      const response = await request("/chatkit", {
        method: "POST",
        headers: { "content-type": "application/json", "x-chatkit-resumable": "1" },
        body: JSON.stringify({ type, params, metadata: metadata || {} }),
        signal,
      });
      if (!response.ok) throw await failure(response);
      return response;
    },
    /** The answer running on a thread, after the event `lastEventId` (none: from its
     * start): the Response of its event stream, or null when there is none to resume. */
    async resume(threadId, lastEventId, signal) {
      const headers = lastEventId ? { "last-event-id": lastEventId } : {};
      const path = `/chatkit/streams/${encodeURIComponent(threadId)}`;
      const response = await request(path, { headers, signal });
      if (response.status === 204) return null;
      if (!response.ok) throw await failure(response);
      return response;
    },
    /** Stop the answer running on a thread (its partial answer is kept). */
    async stopStream(threadId) {
      const path = `/chatkit/streams/${encodeURIComponent(threadId)}/stop`;
      // keepalive: the stop is sent and answered even if the page is left or reloaded now.
      const response = await request(path, { method: "POST", keepalive: true });
      if (!response.ok) throw await failure(response);
      return response.json();
    },
    /** GET a JSON resource of the gateway (`/api/...`); null when it fails. */
    async json(path, signal) {
      try {
        const response = await request(path, { headers: { accept: "application/json" }, signal });
        return response.ok ? await response.json() : null;
      } catch {
        return null;
      }
    },
  };
}

const sameSite = gatewayClient();
export const call = sameSite.call;
export const stream = sameSite.stream;
export const resume = sameSite.resume;
export const stopStream = sameSite.stopStream;

/** A user message input for threads.create / threads.add_user_message: `content` is the
 * text, or its ChatKit content parts (text and @-mention tags); `attachments` their ids. */
export function userInput(content, quotedText, attachments = []) {
  return {
    content: typeof content === "string" ? [{ type: "input_text", text: content }] : content,
    attachments,
    quoted_text: quotedText || null,
    inference_options: {},
  };
}
