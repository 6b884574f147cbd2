// The Slack Web API through the router (same origin). The page holds the token in this module's
// memory and sends it as a header; it is never in a URL or localStorage. To survive a reload, the
// router also keeps it in an HttpOnly cookie that only /v1/web/session ever sees (docs/web.md).
let token = null;

export class ApiError extends Error {
  constructor(code, body) { super(code); this.code = code; this.body = body; }
}

export function setToken(value) { token = value; }
export function hasToken() { return token !== null; }
export function bearer() { return token; }

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// One call; retried while the answer says "try again" (429 with Retry-After, 503 cell_busy /
// workspace frozen during a move, a network error), so a send with a client_msg_id is sent until
// acknowledged and never made twice (the server keeps it idempotent).
export async function call(method, params = {}, { retries = 6 } = {}) {
  let attempt = 0;
  for (;;) {
    let response;
    try {
      response = await fetch(`/api/${method}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json; charset=utf-8', Authorization: `Bearer ${token}` },
        body: JSON.stringify(params),
        credentials: 'omit',
      });
    } catch (err) {
      if (attempt++ >= retries) throw new ApiError('network_error', null);
      await sleep(Math.min(8000, 250 * 2 ** attempt) * Math.random() + 100);
      continue;
    }
    if (response.status === 429 || response.status === 503 || response.status === 502 || response.status === 504) {
      if (attempt++ >= retries) throw new ApiError(`http_${response.status}`, null);
      const after = Number(response.headers.get('Retry-After')) || 0.5;
      await sleep(Math.min(after, 5) * 1000 * (0.5 + Math.random() / 2));
      continue;
    }
    const body = await response.json().catch(() => ({ ok: false, error: 'bad_response' }));
    if (!body.ok) throw new ApiError(body.error || 'unknown_error', body);
    return body;
  }
}

export async function signIn(workspace, email, password) {
  const response = await fetch('/v1/auth/signin', {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Cellchat-Web': '1' },
    credentials: 'same-origin', // the answer sets the session cookie
    body: JSON.stringify({ workspace_id: workspace, email, password }),
  });
  const body = await response.json().catch(() => ({ ok: false, error: 'bad_response' }));
  if (!body.ok) throw new ApiError(body.error || 'invalid_auth', body);
  return body;
}

// The session of an earlier sign-in ({ token, workspace_id }), or null when there is none.
export async function resume() {
  const response = await fetch('/v1/web/session', { method: 'POST', headers: { 'X-Cellchat-Web': '1' },
    credentials: 'same-origin' });
  const body = await response.json().catch(() => ({ ok: false }));
  return body.ok ? body : null;
}

// Sign-out: the router clears the session cookie.
export async function forget() {
  await fetch('/v1/web/session', { method: 'DELETE', headers: { 'X-Cellchat-Web': '1' }, credentials: 'same-origin' });
}

// files.getUploadURLExternal, the bytes, files.completeUploadExternal (docs/files.md).
export async function uploadFile(file, channel, threadTs, comment) {
  const got = await call('files.getUploadURLExternal', { filename: file.name || 'pasted.png', length: file.size });
  const sent = await fetch(got.upload_url, { method: 'POST', body: file, credentials: 'omit' });
  if (!sent.ok) throw new ApiError(`upload_${sent.status}`, null);
  const params = { files: [{ id: got.file_id, title: file.name || 'pasted image' }], channel_id: channel };
  if (threadTs) params.thread_ts = threadTs;
  if (comment) params.initial_comment = comment;
  return call('files.completeUploadExternal', params);
}
