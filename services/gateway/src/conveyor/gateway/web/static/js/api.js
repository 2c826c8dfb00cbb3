// The REST API as the page uses it: bearer token, JSON in and out, typed errors.

export class ApiError extends Error {
  constructor(status, body) {
    const error = body && body.error ? body.error : {};
    const field = error.field ? ` (${error.field})` : "";
    super(`${error.message || `HTTP ${status}`}${field}`);
    this.status = status;
    this.code = error.code || null;
    this.field = error.field || null;
  }

  // The endpoint is not there (yet): other parts of the API land independently.
  get notAvailable() {
    return this.status === 404 || this.status === 405;
  }
}

export class Api {
  constructor(token) {
    this.token = token;
    this.onUnauthorized = null; // set once the token was accepted: a later 401 ends the session
  }

  async call(method, path, body) {
    const headers = { Authorization: `Bearer ${this.token}` };
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = { text }; }
    }
    if (!response.ok) {
      const error = new ApiError(response.status, data);
      if (response.status === 401 && this.onUnauthorized) this.onUnauthorized(error.message);
      throw error;
    }
    return data;
  }

  get(path) { return this.call("GET", path); }
  post(path, body) { return this.call("POST", path, body); }
  put(path, body) { return this.call("PUT", path, body); }
  delete(path, body) { return this.call("DELETE", path, body); }

  listJobs({ state, type, cursor, limit = 20 } = {}) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (state) query.set("state", state);
    if (type) query.set("type", type);
    if (cursor) query.set("cursor", cursor);
    return this.get(`/api/v1/jobs?${query}`);
  }

  getJob(jobId) { return this.get(`/api/v1/jobs/${encodeURIComponent(jobId)}`); }
  submit(type, request) { return this.post(`/api/v1/jobs/${encodeURIComponent(type)}`, request); }
  cancel(jobId) { return this.post(`/api/v1/jobs/${encodeURIComponent(jobId)}/cancel`); }
  result(jobId) { return this.get(`/api/v1/jobs/${encodeURIComponent(jobId)}/result`); }

  // Downloads need the bearer header, which a plain link cannot send: fetch the file and
  // hand it to the browser as a blob.
  async download(jobId) {
    const path = `/api/v1/jobs/${encodeURIComponent(jobId)}/download`;
    const response = await fetch(path, { headers: { Authorization: `Bearer ${this.token}` } });
    if (!response.ok) {
      let body = null;
      try { body = await response.json(); } catch { body = null; }
      const error = new ApiError(response.status, body);
      if (response.status === 401 && this.onUnauthorized) this.onUnauthorized(error.message);
      throw error;
    }
    const disposition = response.headers.get("Content-Disposition") || "";
    return { blob: await response.blob(), filename: filenameOf(disposition) || `${jobId}.bin` };
  }
}

function filenameOf(disposition) {
  const exact = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  if (exact) return decodeURIComponent(exact[1]);
  const plain = /filename="([^"]+)"/i.exec(disposition);
  return plain ? plain[1] : null;
}

// The token's claims, for display only (the gateway checks every request itself).
export function claimsOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload.padEnd(payload.length + ((4 - (payload.length % 4)) % 4), "=")));
  } catch {
    return null;
  }
}
