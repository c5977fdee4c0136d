// Incremental Server-Sent Events parsing: bytes in, events out as soon as each is complete.
// Partial lines and partial events stay buffered until the rest arrives.

/**
 * Parse an SSE response body.
 * @param {ReadableStream<Uint8Array>} body
 * @yields {{data: string, id?: string} | {comment: string}}
 */
export async function* readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let data = [];
  let id;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        const breakLength = buffer.startsWith("\r\n", newline) ? 2 : 1;
        // A lone "\r" at the end may be the first half of "\r\n": wait for more.
        if (breakLength === 1 && buffer[newline] === "\r" && newline === buffer.length - 1) break;
        buffer = buffer.slice(newline + breakLength);
        if (line === "") {
          if (data.length) yield id === undefined ? { data: data.join("\n") } : { data: data.join("\n"), id };
          data = [];
          id = undefined;
        } else if (line.startsWith(":")) {
          yield { comment: line.slice(1).trim() };
        } else {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? "" : line.slice(colon + 1);
          if (value.startsWith(" ")) value = value.slice(1);
          if (field === "data") data.push(value);
          else if (field === "id") id = value;
        }
      }
    }
    if (data.length) yield { data: data.join("\n") };
  } finally {
    reader.releaseLock();
  }
}

/**
 * ChatKit events (parsed JSON) from an SSE response; unparsable events are skipped.
 * `onId(id)` is told each event's id (a resumable stream's), before the event is yielded.
 * @param {Response} response
 */
export async function* chatkitEvents(response, onId) {
  for await (const event of readEvents(response.body)) {
    if (!("data" in event)) continue;
    if (event.id !== undefined) onId?.(event.id);
    try {
      yield JSON.parse(event.data);
    } catch {
      console.warn("skipping an unparsable event", event.data.slice(0, 200));
    }
  }
}
