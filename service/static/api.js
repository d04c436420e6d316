// The public API as the page uses it: JSON posts, a streamed solve read as server-sent
// events, and problem+json errors turned into one readable message.

let apiKey = ""; // this module's memory only: never written to storage or a URL

export function setKey(key) {
  apiKey = key.trim();
}

function headers(accept) {
  const h = { "content-type": "application/json", accept };
  if (apiKey) h.authorization = `Bearer ${apiKey}`;
  return h;
}

/** An error answer of the API, with its problem+json body. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problemMessage(status, problem));
    this.status = status;
    this.problem = problem;
  }
}

/** "Title: detail", then each field error with where it was and what is allowed. */
export function problemMessage(status, problem) {
  if (!problem || typeof problem !== "object") return `The server answered ${status}.`;
  const head = [problem.title, problem.detail].filter(Boolean).join(": ");
  const fields = (problem.errors || []).map((e) => {
    const where = (e.loc || []).filter((p) => p !== "body").join(".");
    const allowed = e.allowed ? ` (allowed: ${e.allowed})` : "";
    return `${where ? `${where}: ` : ""}${e.msg}${allowed}`;
  });
  return [head || `The server answered ${status}.`, ...fields].join("\n");
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null; // not JSON: a proxy's page, say
  }
  return new ApiError(response.status, body);
}

async function send(path, body, accept, signal) {
  try {
    return await fetch(path, {
      method: "POST", headers: headers(accept), body: JSON.stringify(body), signal,
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, { title: "The server could not be reached", detail: String(err) });
  }
}

export async function postJSON(path, body, signal) {
  const response = await send(path, body, "application/json", signal);
  if (!response.ok) throw await failure(response);
  return response.json();
}

/** Each `{event, data}` of a streamed answer, as it arrives. */
export async function* streamEvents(path, body, signal) {
  const response = await send(path, body, "text/event-stream", signal);
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const event = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event) yield event;
      end = buffer.indexOf("\n\n");
    }
  }
}

function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  return data.length ? { event, data: JSON.parse(data.join("\n")) } : null;
}

/** The server's OpenAPI document: strategies and the configured length limits. */
export async function openapi() {
  const response = await fetch("/openapi.json");
  if (!response.ok) throw await failure(response);
  return response.json();
}

export async function readiness() {
  const response = await fetch("/readyz", { headers: { accept: "application/json" } });
  return { ok: response.ok, body: await response.json().catch(() => null) };
}
