// The public HTTP API of syncd (SPEC §3), as the web app uses it. Every request carries
// the token in the Authorization header only: never in a URL.

// ApiError is an answer of the server that is not 2xx, or a failed connection
// (status 0, code "network").
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

// encodePath percent-encodes each segment of a tenant path for /api/files/.
export function encodePath(p) {
  return p.split('/').map(encodeURIComponent).join('/');
}

// decodeToken returns the payload of a JWT (display only: the server decides), or null.
export function decodeToken(token) {
  const parts = String(token).split('.');
  if (parts.length !== 3) return null;
  try {
    let s = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    const bin = atob(s);
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === 'object' ? claims : null;
  } catch {
    return null;
  }
}

// canWrite reports whether a token's role may change files.
export function canWrite(claims) {
  return !!claims && (claims.role === 'write' || claims.role === 'admin');
}

// writeScope returns whether a token may change a path ("" the root), by its role and
// its "paths" claim (SPEC §7.5): a path-scoped token writes only at or under one of its
// prefixes (a whole path, compared as the server folds names), never at the root or
// the ancestor folders it is shown on the way down. Display only: the server decides,
// so where the rule is unsure (case folding beyond lower/upper case) it says yes.
export function writeScope(claims) {
  if (!canWrite(claims)) return () => false;
  const paths = Array.isArray(claims.paths) ? claims.paths.filter((x) => typeof x === 'string' && x !== '') : [];
  if (paths.length === 0) return () => true;
  const folds = [(x) => x.normalize('NFC').toLowerCase(), (x) => x.normalize('NFC').toUpperCase()];
  const within = (p, pre) => p === pre || p.startsWith(pre + '/');
  return (path) => path !== '' && folds.some((f) => paths.some((pre) => within(f(path), f(pre))));
}

async function errorFrom(resp) {
  let code = 'http_' + resp.status, message = resp.statusText;
  try {
    const body = await resp.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch { /* not JSON */ }
  return new ApiError(resp.status, code, message);
}

export class Api {
  constructor(token, clientId) {
    this.token = token;
    this.clientId = clientId;
    this.onUnauthenticated = null; // called with the ApiError of any 401
  }

  url(route, query) {
    const u = new URL(route, document.baseURI);
    if (query) {
      for (const [k, v] of Object.entries(query)) {
        if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, String(v));
      }
    }
    return u;
  }

  headers(extra) {
    return Object.assign({ Authorization: 'Bearer ' + this.token, 'X-Sync-Client-Id': this.clientId }, extra || {});
  }

  async request(method, route, { query, body, headers } = {}) {
    const init = { method, headers: this.headers(headers), cache: 'no-store', credentials: 'omit', redirect: 'error' };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
    let resp;
    try {
      resp = await fetch(this.url(route, query), init);
    } catch (e) {
      throw new ApiError(0, 'network', 'cannot reach the server');
    }
    if (!resp.ok) {
      const err = await errorFrom(resp);
      if (err.status === 401 && this.onUnauthenticated) this.onUnauthenticated(err);
      throw err;
    }
    return resp;
  }

  async json(method, route, opts) {
    const resp = await this.request(method, route, opts);
    return resp.json();
  }

  list(dir, recursive) {
    return this.json('GET', 'api/list', { query: { path: dir, recursive: recursive ? 'true' : '' } });
  }
  usage() { return this.json('GET', 'api/usage'); }
  mkdir(path) { return this.json('POST', 'api/mkdir', { body: { path } }); }
  move(from, to, ifMatch) {
    const body = { from, to };
    if (ifMatch) body.if_match = '"' + ifMatch + '"';
    return this.json('POST', 'api/move', { body });
  }
  remove(path, { recursive, ifSeq, ifMatch } = {}) {
    const headers = ifMatch ? { 'If-Match': '"' + ifMatch + '"' } : undefined;
    return this.json('DELETE', 'api/files/' + encodePath(path), {
      query: { recursive: recursive ? 'true' : '', if_seq: ifSeq || '' }, headers,
    });
  }
  versions(path) { return this.json('GET', 'api/versions', { query: { path } }); }
  deleted(dir) { return this.json('GET', 'api/deleted', { query: { path: dir } }); }
  restore(path, version, to) {
    const body = { path, version };
    if (to) body.to = to;
    return this.json('POST', 'api/restore', { body });
  }

  // Share links (role write) and team administration (role admin).
  createShare(path, expiresIn, password) {
    const body = { path, expires_in: expiresIn };
    if (password) body.password = password;
    return this.json('POST', 'api/shares', { body });
  }
  shares() { return this.json('GET', 'api/shares'); }
  revokeShare(key) { return this.json('DELETE', 'api/shares/' + encodeURIComponent(key)); }
  teamTokens() { return this.json('GET', 'api/team/tokens'); }
  teamDevices() { return this.json('GET', 'api/team/devices'); }
  issueToken(subject, role, paths) {
    const body = { subject, role };
    if (paths && paths.length) body.paths = paths;
    return this.json('POST', 'api/team/tokens', { body });
  }
  revokeToken(jti) { return this.json('DELETE', 'api/team/tokens/' + encodeURIComponent(jti)); }

  // download returns the content of a file (or, with archive, a tar of a folder) as a Blob.
  async download(path, archive) {
    const resp = archive
      ? await this.request('GET', 'api/archive', { query: { path } })
      : await this.request('GET', 'api/files/' + encodePath(path));
    return resp.blob();
  }

  // upload PUTs file to path with its SHA-256 (hex). It returns {promise, abort};
  // onProgress(loaded, total) follows the request body.
  upload(path, file, sha256, onProgress) {
    const xhr = new XMLHttpRequest();
    const promise = new Promise((resolve, reject) => {
      xhr.open('PUT', this.url('api/files/' + encodePath(path)));
      const h = this.headers({ 'X-Content-SHA256': sha256, 'Content-Type': 'application/octet-stream' });
      const mtime = new Date(file.lastModified || Date.now());
      if (mtime.getUTCFullYear() >= 1970 && mtime.getUTCFullYear() < 2262) {
        h['X-Modified'] = mtime.toISOString().replace(/\.\d{3}Z$/, 'Z');
      }
      for (const [k, v] of Object.entries(h)) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (ev) => { if (onProgress && ev.lengthComputable) onProgress(ev.loaded, ev.total); };
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve(body);
          return;
        }
        const e = body && body.error ? body.error : {};
        const err = new ApiError(xhr.status, e.code || 'http_' + xhr.status, e.message || xhr.statusText);
        if (err.status === 401 && this.onUnauthenticated) this.onUnauthenticated(err);
        reject(err);
      };
      xhr.onerror = () => reject(new ApiError(0, 'network', 'the connection was lost during the upload'));
      xhr.onabort = () => reject(new ApiError(0, 'aborted', 'cancelled'));
      xhr.send(file);
    });
    return { promise, abort: () => xhr.abort() };
  }
}

// describe turns an error into words for a person; what says what was being done
// ("upload", "rename", "delete", "mkdir", "restore", "download", "list").
export function describe(err, what) {
  if (!(err instanceof ApiError)) return 'Something went wrong: ' + (err && err.message ? err.message : String(err));
  switch (err.code) {
    case 'quota_exceeded':
      return 'The space is full: this would go over the storage quota. Delete something or ask your administrator for more room.';
    case 'too_large':
      return 'Too large: the server does not take a file this big, or the space holds as many entries as it may.';
    case 'conflict':
      if (what === 'delete') return 'The folder is not empty, or it changed meanwhile. Reload and try again.';
      return 'A file or folder with that name already exists here (names that differ only in upper/lower case count as the same), or a file stands where a folder is needed.';
    case 'invalid_path':
      return 'That name is not allowed: avoid < > : " | ? * \\ and control characters, names ending in a dot or a space, names such as CON or NUL, and ".syncspace".';
    case 'precondition_failed':
      return 'It changed on the server meanwhile. Look at the new state and try again.';
    case 'not_found':
      return 'It is not there any more: someone may have moved or deleted it.';
    case 'forbidden':
      return 'Your sign-in may not do this (it may be read-only).';
    case 'unauthenticated':
      return 'Your sign-in is no longer valid (expired or revoked). Sign in again.';
    case 'digest_mismatch':
      return 'The file changed while it was being uploaded. Try again.';
    case 'rate_limited':
      return 'Too many requests just now. Wait a moment and try again.';
    case 'insufficient_storage':
      return 'The server\'s disk is full. Tell your administrator.';
    case 'resync_required':
      return 'The server\'s history changed; the list has been reloaded.';
    case 'network':
      return 'Cannot reach the server: check your connection and try again.';
    case 'aborted':
      return 'Cancelled.';
    case 'internal':
      return 'The server had a problem. Try again later.';
    default:
      return err.message ? err.message.charAt(0).toUpperCase() + err.message.slice(1) : 'Error ' + err.status + '.';
  }
}
