// syncspace web app: sign-in, folder browser, uploads, live updates from /ws.
// Plain ES modules, no framework, no build step; served by syncd (transport/web).
import { Api, ApiError, canWrite, decodeToken, describe, writeScope } from './api.js';
import { hashBlob } from './sha256.js';
import { Live } from './live.js';
import { resetTeam, setupTeam } from './team.js';

const TOKEN_KEY = 'syncspace.token';
const ROW = 40; // px, as --row in app.css
const UPLOAD_CONCURRENCY = 3;

const $ = (id) => document.getElementById(id);

// ---------- small helpers ----------

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (v === true) e.setAttribute(k, '');
      else if (v !== false && v !== undefined && v !== null) e.setAttribute(k, v);
    }
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

export function humanSize(n) {
  if (n === null || n === undefined) return '';
  if (n < 1024) return n + ' B';
  const units = ['KB', 'MB', 'GB', 'TB', 'PB'];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (v < 10 ? v.toFixed(1) : Math.round(v)) + ' ' + units[i];
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
function humanDate(s) {
  const d = new Date(s);
  return isNaN(d) ? '' : dateFmt.format(d);
}

export function parentOf(p) {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}
export function baseName(p) {
  return p.slice(p.lastIndexOf('/') + 1);
}
function join(dir, name) {
  return dir ? dir + '/' + name : name;
}
function isUnder(p, dir) {
  return dir === '' ? p !== '' : p.startsWith(dir + '/');
}

function randomId() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return 'web-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

// ---------- state ----------

const state = {
  token: '',
  claims: null,
  writable: false,
  mayWrite: () => false, // whether the token may change a path (role and paths claim)
  api: null,
  live: null,
  clientId: '',
  dir: '',
  entries: new Map(), // name -> metadata of the open folder
  tombstones: new Map(), // name -> seq of a delete made here (late events must not revive it)
  listSeq: 0,
  loading: false,
  pending: [], // events received while the listing loads
  loadGen: 0,
  view: [], // sorted, filtered metadata
  sort: { key: 'name', dir: 1 },
  filter: '',
  selected: '', // path
  flash: new Map(), // path -> time the highlight ends
  showDeleted: false,
  usageTimer: 0,
  renderQueued: false,
};

// ---------- sign-in ----------

function takeTokenFromFragment() {
  const h = location.hash;
  if (!h.startsWith('#token=') && !h.includes('&token=')) return;
  const params = new URLSearchParams(h.slice(1));
  const t = (params.get('token') || '').trim();
  // Remove the token from the address bar (and from history) at once.
  history.replaceState(null, '', location.pathname + location.search);
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
}

function showSignIn(message) {
  clearTimeout(retry.timer);
  retry.delay = 0;
  $('signin-forget').hidden = true;
  $('app').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = message || '';
  $('token-input').value = '';
  $('token-input').focus();
  document.title = 'Sign in · syncspace';
}

// retry is the sign-in retried after a failure that says nothing about the token (the
// server unreachable, 5xx, 429): the token is kept and tried again with backoff, since
// one from a link could not be had again from the address bar.
// gen counts sign-ins and sign-outs: an answer to an older one is ignored.
const retry = { timer: 0, delay: 0, gen: 0 };

function retrySignIn(token, err) {
  const delay = Math.min(60000, retry.delay ? retry.delay * 2 : 5000);
  if ($('signin').hidden) showSignIn('');
  retry.delay = delay;
  $('signin-error').textContent = describe(err, 'signin') + ' You are still signed in: this tab keeps the token and tries again in ' +
    Math.round(delay / 1000) + ' s. Paste another token to use that one instead.';
  $('signin-forget').hidden = false;
  clearTimeout(retry.timer);
  retry.timer = setTimeout(() => {
    if (!state.api && sessionStorage.getItem(TOKEN_KEY) === token) signIn(token);
  }, delay);
}

function signOut(message) {
  retry.gen++;
  sessionStorage.removeItem(TOKEN_KEY);
  if (state.live) state.live.stop();
  state.live = null;
  state.api = null;
  state.token = '';
  state.claims = null;
  state.writable = false;
  state.mayWrite = () => false;
  state.entries = new Map();
  state.view = [];
  state.dir = '';
  history.replaceState(null, '', location.pathname + location.search);
  // Stop every upload, those still being hashed too: none may go out after sign-out.
  for (const u of uploads) cancelUpload(u);
  uploads.length = 0;
  $('upload-list').replaceChildren();
  $('uploads').hidden = true;
  forgetPage();
  resetTeam(false);
  hideBanner();
  showSignIn(message);
}

// forgetPage closes the dialogs and empties what showed the space (names, statuses), so
// that nothing of a signed-out session stays in the page for whoever uses the tab next.
function forgetPage() {
  for (const d of document.querySelectorAll('dialog')) if (d.open) d.close();
  for (const f of document.querySelectorAll('dialog input, dialog textarea')) f.value = '';
  for (const p of document.querySelectorAll('dialog .error')) p.textContent = '';
  for (const id of ['dlg-versions-list', 'deleted-list', 'crumbs']) $(id).replaceChildren();
  for (const id of ['dlg-name-title', 'dlg-delete-title', 'dlg-delete-text', 'dlg-versions-title', 'dlg-versions-text',
    'dlg-name-hint', 'dlg-share-title', 'dlg-share-expires', 'who', 'usage-text', 'action-status', 'deleted-status', 'count', 'empty']) $(id).textContent = '';
  state.selected = '';
  state.filter = '';
  $('filter').value = '';
  state.showDeleted = false;
  $('btn-deleted').setAttribute('aria-pressed', 'false');
  $('deleted-view').hidden = true;
  state.flash.clear();
  rowEls = new Map();
  $('spacer').replaceChildren();
}

async function signIn(token) {
  const claims = decodeToken(token);
  if (!claims || claims.aud === 'syncspace-admin' || claims.role === 'ops') {
    // Refused here (it is no token, or an ops token): nothing of it is kept.
    if (sessionStorage.getItem(TOKEN_KEY) === token) sessionStorage.removeItem(TOKEN_KEY);
  }
  if (!claims) {
    showSignIn('That does not look like an access token. Copy the whole token (three parts separated by dots).');
    return;
  }
  if (claims.aud === 'syncspace-admin' || claims.role === 'ops') {
    showSignIn('This is an operator token; it works with syncctl, not here. Use a token for a team space.');
    return;
  }
  const api = new Api(token, state.clientId);
  const gen = ++retry.gen;
  let usage;
  try {
    usage = await api.usage();
  } catch (e) {
    if (gen !== retry.gen) return; // signed out, or another sign-in, meanwhile
    if (e instanceof ApiError && e.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showSignIn('This token or link is not valid any more (expired or revoked). Ask for a new one.');
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    retrySignIn(token, e);
    return;
  }
  if (gen !== retry.gen) return;
  clearTimeout(retry.timer);
  retry.delay = 0;
  sessionStorage.setItem(TOKEN_KEY, token);
  state.token = token;
  state.claims = claims;
  state.writable = canWrite(claims);
  state.mayWrite = writeScope(claims);
  state.api = api;
  api.onUnauthenticated = () => signOut('Your sign-in is no longer valid (expired or revoked). Sign in again.');
  $('signin').hidden = true;
  $('app').hidden = false;
  document.body.classList.toggle('readonly', !state.writable);
  for (const e of document.querySelectorAll('.write-only')) e.hidden = !state.writable;
  resetTeam(claims.role === 'admin');
  const role = claims.role === 'read' ? 'read only' : claims.role;
  $('who').textContent = (claims.sub || '?') + ' · ' + (claims.tenant || '?') + ' · ' + role;
  showUsage(usage);
  await openDir(dirFromHash(), true);
}

// ---------- navigation ----------

function dirFromHash() {
  const h = location.hash;
  if (!h.startsWith('#/')) return '';
  try {
    return h.slice(2).split('/').filter((s) => s !== '').map(decodeURIComponent).join('/');
  } catch {
    return '';
  }
}

function hashFor(dir) {
  return '#/' + dir.split('/').filter((s) => s).map(encodeURIComponent).join('/');
}

function go(dir) {
  const h = hashFor(dir);
  if (location.hash === h || (dir === '' && location.hash === '')) openDir(dir);
  else location.hash = h; // hashchange opens it
}

async function openDir(dir, first) {
  const gen = ++state.loadGen;
  const changed = dir !== state.dir;
  state.dir = dir;
  showFolderControls();
  state.loading = true;
  state.pending = [];
  if (changed) {
    state.selected = '';
    state.filter = '';
    $('filter').value = '';
  }
  renderCrumbs();
  let ans;
  try {
    ans = await state.api.list(dir);
  } catch (e) {
    if (gen !== state.loadGen) return;
    state.loading = false;
    if (e instanceof ApiError && e.code === 'not_found' && dir !== '') {
      setStatus('The folder "' + dir + '" does not exist (any more); showing its parent.', true);
      go(parentOf(dir));
      return;
    }
    setStatus(describe(e, 'list'), true);
    return;
  }
  if (gen !== state.loadGen || !state.api) return;
  state.entries = new Map();
  state.tombstones = new Map();
  for (const m of ans.entries) state.entries.set(baseName(m.path), m);
  state.listSeq = ans.seq;
  state.loading = false;
  if (first || !state.live) startLive(ans.seq, ans.epoch);
  const pending = state.pending;
  state.pending = [];
  for (const ev of pending) applyEvent(ev);
  rebuildView();
  if (changed) $('list').scrollTop = 0;
  if (state.showDeleted) loadDeleted();
  document.title = (dir ? baseName(dir) : 'Home') + ' · syncspace';
}

function renderCrumbs() {
  const nav = $('crumbs');
  const parts = state.dir ? state.dir.split('/') : [];
  const items = [];
  const home = el('a', { href: '#/', text: 'Home' });
  if (parts.length === 0) home.setAttribute('aria-current', 'page');
  items.push(home);
  let acc = '';
  parts.forEach((p, i) => {
    acc = join(acc, p);
    items.push(el('span', { class: 'slash', 'aria-hidden': 'true', text: '/' }));
    const a = el('a', { href: hashFor(acc), text: p });
    if (i === parts.length - 1) a.setAttribute('aria-current', 'page');
    items.push(a);
  });
  nav.replaceChildren(...items);
}

// ---------- live updates ----------

function startLive(seq, epoch) {
  if (state.live) state.live.stop();
  const live = new Live(state.token, state.clientId, {
    onEvent: (ev) => {
      if (state.loading) state.pending.push(ev);
      else applyEvent(ev);
      scheduleUsage();
    },
    onResync: () => {
      setStatus('The server asked for a full reload; the list is fresh again.');
      openDir(state.dir);
      scheduleUsage();
    },
    onStatus: (s) => {
      if (s === 'offline') showBanner('You are offline. Changes will show up again when the connection is back.', false);
      else if (s === 'live' && $('banner').dataset.state === 'offline') {
        showBanner('Back online.', true);
        // Anything missed was replayed from `since`; refresh the usage figures too.
        scheduleUsage();
      }
    },
    onAuthEnd: (code) => {
      const why = code === 4004 ? 'Your sign-in has expired.' : code === 4005 ? 'Your sign-in was revoked.' : 'Your sign-in is no longer valid.';
      signOut(why + ' Sign in again.');
    },
  });
  state.live = live;
  live.start(seq, epoch);
}

let bannerTimer = 0;
function showBanner(text, back) {
  const b = $('banner');
  clearTimeout(bannerTimer);
  b.textContent = text;
  b.classList.toggle('back', back);
  b.dataset.state = back ? 'online' : 'offline';
  b.hidden = false;
  if (back) bannerTimer = setTimeout(hideBanner, 4000);
}
function hideBanner() {
  clearTimeout(bannerTimer);
  const b = $('banner');
  b.hidden = true;
  b.dataset.state = '';
}

// applyEvent applies one FileOperation to the open folder's entries.
function applyEvent(ev) {
  if (typeof ev.seq === 'number' && ev.seq <= state.listSeq) return; // in the listing already
  const op = ev.operation || {};
  if (op.Create || op.Update) upsert((op.Create || op.Update).metadata, ev.seq);
  else if (op.Delete) removed(op.Delete.metadata.path, ev.seq);
  else if (op.Move) {
    const from = op.Move.from, to = op.Move.metadata.path;
    if (state.dir === from || isUnder(state.dir, from)) {
      // The open folder itself moved: follow it.
      const moved = to + state.dir.slice(from.length);
      setStatus('This folder was moved to "' + moved + '".');
      go(moved);
      return;
    }
    removed(from, ev.seq, true);
    upsert(op.Move.metadata, ev.seq);
  }
}

// upsert adds or replaces an entry from metadata m written at seq (a change under a
// subfolder shows that subfolder, which a PUT creates if missing).
function upsert(m, seq) {
  const dir = state.dir;
  if (!isUnder(m.path, dir)) return;
  const rest = dir ? m.path.slice(dir.length + 1) : m.path;
  const slash = rest.indexOf('/');
  const name = slash < 0 ? rest : rest.slice(0, slash);
  const rowSeq = Math.max(seq || 0, m.seq || 0);
  const dead = state.tombstones.get(name);
  if (dead !== undefined && dead >= rowSeq) return;
  const cur = state.entries.get(name);
  if (slash < 0) {
    if (cur && cur.seq > rowSeq) return;
    state.entries.set(name, Object.assign({}, m, { seq: rowSeq }));
  } else {
    if (cur && cur.is_directory) return;
    if (cur && cur.seq > rowSeq) return;
    state.entries.set(name, { path: join(dir, name), size: 0, modified: m.modified, hash: '', is_directory: true, seq: rowSeq });
  }
  state.tombstones.delete(name);
  flash(join(dir, name));
  rebuildView();
}

// removed drops path p, deleted (or moved away) at seq.
function removed(p, seq, quiet) {
  const dir = state.dir;
  if (dir !== '' && (p === dir || isUnder(dir, p))) {
    setStatus('This folder was deleted; showing the nearest folder that still exists.', true);
    go(parentOf(p));
    return;
  }
  if (parentOf(p) !== dir) return;
  const name = baseName(p);
  const cur = state.entries.get(name);
  if (cur && cur.seq > seq) return;
  state.tombstones.set(name, seq);
  if (cur) {
    state.entries.delete(name);
    if (state.selected === p) state.selected = '';
    rebuildView();
  }
  if (!quiet) scheduleUsage();
}

function flash(path) {
  state.flash.set(path, Date.now() + 2000);
  setTimeout(() => {
    const t = state.flash.get(path);
    if (t !== undefined && t <= Date.now()) {
      state.flash.delete(path);
      queueRender();
    }
  }, 2100);
}

// ---------- the list (only visible rows are in the DOM) ----------

function rebuildView() {
  const f = state.filter.toLowerCase();
  const rows = []; // [name, metadata, sort key]
  const { key, dir } = state.sort;
  for (const [name, m] of state.entries) {
    if (f && !name.toLowerCase().includes(f)) continue;
    rows.push([name, m, key === 'size' ? m.size : key === 'modified' ? Date.parse(m.modified) : 0]);
  }
  rows.sort((a, b) => {
    if (a[1].is_directory !== b[1].is_directory) return a[1].is_directory ? -1 : 1;
    let c = a[2] - b[2];
    if (c === 0) c = collator.compare(a[0], b[0]);
    if (c === 0) c = a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
    return c * dir;
  });
  const v = rows.map((r) => r[1]);
  state.view = v;
  const n = state.entries.size;
  $('count').textContent = f ? v.length + ' of ' + n + ' shown' : n === 1 ? '1 item' : n + ' items';
  const empty = $('empty');
  if (v.length === 0) {
    empty.textContent = state.loading ? 'Loading…' : f ? 'Nothing here matches "' + state.filter + '".' : 'This folder is empty.';
    empty.hidden = false;
  } else {
    empty.hidden = true;
  }
  for (const b of document.querySelectorAll('.listhead .sort')) {
    const st = b.dataset.key === key ? (dir > 0 ? 'ascending' : 'descending') : 'none';
    b.dataset.sort = st;
    b.setAttribute('aria-label', b.textContent + (st === 'none' ? ': sort by this' : ', sorted ' + st));
  }
  queueRender();
  updateToolbar();
}

function queueRender() {
  if (state.renderQueued) return;
  state.renderQueued = true;
  requestAnimationFrame(() => {
    state.renderQueued = false;
    renderRows();
  });
}

// rowEls keeps the rendered row of each visible path, so that re-rendering (scrolling,
// another entry changing) does not restart a row's highlight animation.
let rowEls = new Map();

function renderRows() {
  const list = $('list'), spacer = $('spacer');
  const v = state.view;
  spacer.style.height = v.length * ROW + 'px';
  const first = Math.max(0, Math.floor(list.scrollTop / ROW) - 5);
  const last = Math.min(v.length, Math.ceil((list.scrollTop + list.clientHeight) / ROW) + 5);
  const now = Date.now();
  const next = new Map();
  const rows = [];
  let active = '';
  for (let i = first; i < last; i++) {
    const m = v[i];
    const name = baseName(m.path);
    const selected = m.path === state.selected;
    const id = 'row-' + i;
    if (selected) active = id;
    const sig = (m.is_directory ? 'd' : 'f') + m.size + '|' + m.modified;
    let row = rowEls.get(m.path);
    if (!row || row.dataset.sig !== sig) {
      row = el('div', { class: 'row', role: 'option' },
        el('span', { class: 'col-name' },
          el('span', { class: 'icon ' + (m.is_directory ? 'dir' : 'file'), 'aria-hidden': 'true' }),
          el('span', { class: 'sr-only', text: m.is_directory ? 'Folder' : 'File' }),
          el('span', { class: 'name', text: name, title: name })),
        el('span', { class: 'col-size', text: m.is_directory ? '' : humanSize(m.size) }),
        el('span', { class: 'col-date', text: humanDate(m.modified) }));
      row.dataset.sig = sig;
    }
    row.id = id;
    row.dataset.index = String(i);
    row.setAttribute('aria-posinset', String(i + 1));
    row.setAttribute('aria-setsize', String(v.length));
    row.setAttribute('aria-selected', selected ? 'true' : 'false');
    row.classList.toggle('flash', (state.flash.get(m.path) || 0) > now);
    row.style.transform = 'translateY(' + i * ROW + 'px)';
    next.set(m.path, row);
    rows.push(row);
  }
  rowEls = next;
  // Leave rows that stay where they are (moving a node restarts its animation).
  const keep = new Set(rows);
  for (const c of Array.from(spacer.children)) if (!keep.has(c)) c.remove();
  let ref = spacer.firstChild;
  for (const row of rows) {
    if (row === ref) ref = ref.nextSibling;
    else spacer.insertBefore(row, ref);
  }
  if (active) list.setAttribute('aria-activedescendant', active);
  else list.removeAttribute('aria-activedescendant');
}

function selectedEntry() {
  if (!state.selected) return null;
  return state.entries.get(baseName(state.selected)) && parentOf(state.selected) === state.dir
    ? state.entries.get(baseName(state.selected)) : null;
}

function select(index, scroll) {
  const v = state.view;
  if (v.length === 0) return;
  index = Math.max(0, Math.min(v.length - 1, index));
  state.selected = v[index].path;
  if (scroll) {
    const list = $('list');
    const top = index * ROW;
    if (top < list.scrollTop) list.scrollTop = top;
    else if (top + ROW > list.scrollTop + list.clientHeight) list.scrollTop = top + ROW - list.clientHeight;
  }
  queueRender();
  updateToolbar();
}

function selectedIndex() {
  return state.view.findIndex((m) => m.path === state.selected);
}

function activate(m) {
  if (!m) return;
  if (m.is_directory) go(m.path);
  else download(m);
}

function updateToolbar() {
  const m = selectedEntry();
  const w = !!m && state.mayWrite(m.path); // not an ancestor folder of a scoped token's paths
  $('btn-download').disabled = !m;
  $('btn-download').textContent = m && m.is_directory ? 'Download (.tar)' : 'Download';
  $('btn-rename').disabled = !w;
  $('btn-delete').disabled = !w;
  $('btn-versions').disabled = !m || m.is_directory;
  $('btn-share').disabled = !w;
}

// showFolderControls shows upload, new folder and the drop hint only in a folder the
// token may write in: a path-scoped token sees the root and the folders above its paths
// read-only (the server answers 404 there).
function showFolderControls() {
  const w = state.mayWrite(state.dir);
  for (const id of ['btn-upload', 'btn-upload-folder', 'btn-mkdir', 'drophint']) $(id).hidden = !w;
}

let statusTimer = 0;
function setStatus(text, bad) {
  const s = $('action-status');
  clearTimeout(statusTimer);
  s.textContent = text;
  s.classList.toggle('bad', !!bad);
  s.classList.toggle('good', !bad && !!text);
  if (text && !bad) statusTimer = setTimeout(() => { s.textContent = ''; }, 6000);
}

// ---------- usage ----------

function showUsage(u) {
  const box = $('usage');
  if (!u) return;
  const quota = u.quota || 0;
  $('usage-text').textContent = quota ? humanSize(u.used) + ' of ' + humanSize(quota) + ' used' : humanSize(u.used) + ' used';
  const meter = $('usage-meter');
  meter.hidden = !quota;
  if (quota) {
    meter.max = quota;
    meter.value = Math.min(u.used, quota);
    meter.high = quota * 0.9;
    meter.optimum = 0;
  }
  box.hidden = false;
  state.usage = u;
}

function scheduleUsage() {
  clearTimeout(state.usageTimer);
  state.usageTimer = setTimeout(async () => {
    if (!state.api) return;
    try { showUsage(await state.api.usage()); } catch { /* shown elsewhere */ }
  }, 400);
}

// ---------- actions ----------

async function download(m) {
  setStatus('Downloading "' + baseName(m.path) + '"…');
  try {
    const blob = await state.api.download(m.path, m.is_directory);
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: baseName(m.path) + (m.is_directory ? '.tar' : '') });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    setStatus('Downloaded "' + baseName(m.path) + '".');
  } catch (e) {
    setStatus('Download of "' + baseName(m.path) + '" failed: ' + describe(e, 'download'), true);
  }
}

// askName opens the name dialog; submit(value) returns an error message or '' to close.
function askName({ title, label, value, hint, ok, submit }) {
  const dlg = $('dlg-name');
  $('dlg-name-title').textContent = title;
  $('dlg-name-label').textContent = label;
  $('dlg-name-hint').textContent = hint || '';
  $('dlg-name-error').textContent = '';
  $('dlg-name-ok').textContent = ok;
  const input = $('dlg-name-input');
  input.value = value || '';
  input.removeAttribute('aria-invalid');
  dlg.onsubmitvalue = submit;
  dlg.showModal();
  input.focus();
  const dot = input.value.lastIndexOf('.');
  const slash = input.value.lastIndexOf('/');
  input.setSelectionRange(slash + 1, dot > slash + 1 ? dot : input.value.length);
}

async function nameSubmit(ev) {
  ev.preventDefault();
  const dlg = $('dlg-name');
  // Only the end is trimmed (a name may not end in a space, but may begin with one).
  const value = $('dlg-name-input').value.trimEnd().replace(/^\/+|\/+$/g, '');
  if (!value) {
    $('dlg-name-error').textContent = 'Type a name.';
    return;
  }
  $('dlg-name-ok').disabled = true;
  try {
    const err = await dlg.onsubmitvalue(value);
    if (err) {
      $('dlg-name-error').textContent = err;
      $('dlg-name-input').setAttribute('aria-invalid', 'true');
      return;
    }
    dlg.close();
    $('list').focus();
  } finally {
    $('dlg-name-ok').disabled = false;
  }
}

function newFolder() {
  askName({
    title: 'New folder', label: 'Folder name', ok: 'Create',
    hint: state.dir ? 'Inside "' + state.dir + '".' : 'At the top level.',
    submit: async (name) => {
      try {
        const m = await state.api.mkdir(join(state.dir, name));
        upsert(m, m.seq);
        state.selected = m.path;
        rebuildView();
        setStatus('Created folder "' + name + '".');
        return '';
      } catch (e) {
        return describe(e, 'mkdir');
      }
    },
  });
}

function renameOrMove() {
  const m = selectedEntry();
  if (!m) return;
  askName({
    title: 'Rename or move "' + baseName(m.path) + '"', label: 'New path', value: m.path, ok: 'Rename',
    hint: 'Change the name, or the folders before it to move it (folders are created as needed).',
    submit: async (to) => {
      if (to === m.path) return '';
      try {
        const nm = await state.api.move(m.path, to, m.is_directory ? '' : m.hash);
        removed(m.path, nm.seq, true);
        upsert(nm, nm.seq);
        if (parentOf(nm.path) === state.dir) state.selected = nm.path;
        rebuildView();
        setStatus(parentOf(nm.path) === state.dir
          ? 'Renamed to "' + baseName(nm.path) + '".' : 'Moved to "' + nm.path + '".');
        return '';
      } catch (e) {
        return describe(e, 'rename');
      }
    },
  });
}

async function confirmDelete() {
  const m = selectedEntry();
  if (!m) return;
  const dlg = $('dlg-delete');
  const name = baseName(m.path);
  $('dlg-delete-error').textContent = '';
  $('dlg-delete-title').textContent = 'Delete "' + name + '"?';
  const ok = $('dlg-delete-ok');
  let ifSeq = 0;
  if (m.is_directory) {
    $('dlg-delete-text').textContent = 'Counting what is inside…';
    ok.disabled = true;
    dlg.showModal();
    try {
      const ans = await state.api.list(m.path, true);
      let files = 0, dirs = 0;
      for (const e of ans.entries) { if (e.is_directory) dirs++; else files++; }
      ifSeq = ans.seq;
      $('dlg-delete-text').textContent = files + dirs === 0
        ? 'The folder is empty.'
        : 'The folder and everything in it will be deleted: ' + plural(files, 'file') + ' and ' + plural(dirs, 'folder') +
          '. Deleted files can be restored from "Recently deleted" for a while.';
      ok.disabled = false;
    } catch (e) {
      $('dlg-delete-error').textContent = describe(e, 'list');
      return;
    }
  } else {
    $('dlg-delete-text').textContent = 'The file (' + humanSize(m.size) + ') will be deleted. It can be restored from "Recently deleted" for a while.';
    ok.disabled = false;
    dlg.showModal();
  }
  dlg.onconfirm = async () => {
    ok.disabled = true;
    try {
      const ans = await state.api.remove(m.path, m.is_directory ? { recursive: true, ifSeq } : { ifMatch: m.hash });
      removed(m.path, ans.seq);
      dlg.close();
      setStatus('Deleted "' + name + '".');
      $('list').focus();
      if (state.showDeleted) loadDeleted();
    } catch (e) {
      $('dlg-delete-error').textContent = describe(e, 'delete');
    } finally {
      ok.disabled = false;
    }
  };
  ok.focus();
}

function plural(n, word) {
  return n + ' ' + word + (n === 1 ? '' : 's');
}

async function showVersions() {
  const m = selectedEntry();
  if (!m || m.is_directory) return;
  const dlg = $('dlg-versions');
  $('dlg-versions-title').textContent = 'Versions of "' + baseName(m.path) + '"';
  $('dlg-versions-text').textContent = 'Current: ' + humanSize(m.size) + ', ' + humanDate(m.modified) + '.';
  $('dlg-versions-error').textContent = '';
  const ul = $('dlg-versions-list');
  ul.replaceChildren(el('li', { text: 'Loading…' }));
  dlg.showModal();
  try {
    const ans = await state.api.versions(m.path);
    if (ans.versions.length === 0) {
      ul.replaceChildren(el('li', { text: 'No earlier versions are kept.' }));
      return;
    }
    ul.replaceChildren(...ans.versions.map((v) => el('li', null,
      el('span', { class: 'vwhen', text: 'Replaced ' + humanDate(v.replaced_at) }),
      el('span', { class: 'vmeta', text: humanSize(v.size) + ' · modified ' + humanDate(v.modified) }),
      state.writable ? el('button', {
        type: 'button', class: 'small restore', text: 'Restore',
        'aria-label': 'Restore the version replaced ' + humanDate(v.replaced_at),
        onclick: async (ev) => {
          ev.target.disabled = true;
          try {
            const nm = await state.api.restore(m.path, v.id);
            upsert(nm, nm.seq);
            dlg.close();
            setStatus('Restored "' + baseName(m.path) + '" as it was before ' + humanDate(v.replaced_at) + '.');
          } catch (e) {
            $('dlg-versions-error').textContent = describe(e, 'restore');
            ev.target.disabled = false;
          }
        },
      }) : null)));
  } catch (e) {
    ul.replaceChildren();
    $('dlg-versions-error').textContent = describe(e, 'versions');
  }
}

function toggleDeleted() {
  state.showDeleted = !state.showDeleted;
  $('btn-deleted').setAttribute('aria-pressed', String(state.showDeleted));
  $('deleted-view').hidden = !state.showDeleted;
  if (state.showDeleted) loadDeleted();
}

async function loadDeleted() {
  const ul = $('deleted-list');
  const st = $('deleted-status');
  st.textContent = 'Loading…';
  st.classList.remove('bad');
  try {
    const ans = await state.api.deleted(state.dir);
    const entries = ans.entries;
    st.textContent = entries.length ? '' : 'Nothing was deleted here recently.';
    ul.replaceChildren(...entries.map((d) => el('li', null,
      el('span', { class: 'dpath', text: state.dir ? d.path.slice(state.dir.length + 1) : d.path }),
      el('span', { class: 'dmeta', text: humanSize(d.size) + ' · deleted ' + humanDate(d.deleted_at) }),
      state.mayWrite(d.path) ? el('button', {
        type: 'button', class: 'small restore', text: 'Restore', 'aria-label': 'Restore ' + d.path,
        onclick: async (ev) => {
          ev.target.disabled = true;
          try {
            const nm = await state.api.restore(d.path, d.version);
            upsert(nm, nm.seq);
            st.textContent = 'Restored "' + d.path + '".';
            st.classList.remove('bad');
            ev.target.closest('li').remove();
          } catch (e) {
            st.textContent = 'Restoring "' + d.path + '" failed: ' + describe(e, 'restore');
            st.classList.add('bad');
            ev.target.disabled = false;
          }
        },
      }) : null)));
  } catch (e) {
    st.textContent = describe(e, 'deleted');
    st.classList.add('bad');
  }
}

// ---------- uploads ----------

const uploads = [];
let running = 0;

function queueUpload(file, relPath) {
  const path = join(state.dir, relPath);
  const bar = el('progress', { max: '100', value: '0', 'aria-label': 'Progress of ' + relPath });
  const st = el('span', { class: 'ustate', text: 'Waiting' });
  const cancel = el('button', { type: 'button', class: 'small ucancel', text: 'Cancel', 'aria-label': 'Cancel upload of ' + relPath });
  const li = el('li', { class: 'upload', 'data-path': path }, el('span', { class: 'uname', text: relPath }), bar, st, cancel);
  const u = { file, path, li, bar, st, cancel, state: 'waiting', abort: null, ctrl: new AbortController() };
  cancel.addEventListener('click', () => cancelUpload(u));
  uploads.push(u);
  $('upload-list').append(li);
  $('uploads').hidden = false;
  pump();
}

function cancelUpload(u) {
  if (u.state === 'done' || u.state === 'failed' || u.state === 'cancelled') return;
  u.ctrl.abort(new ApiError(0, 'aborted', 'cancelled'));
  if (u.abort) u.abort();
  if (u.state === 'waiting') finishUpload(u, 'cancelled', 'Cancelled');
}

function finishUpload(u, s, text) {
  u.state = s;
  u.li.classList.add(s);
  u.st.textContent = text;
  u.cancel.hidden = true;
  u.abort = null;
}

function pump() {
  while (running < UPLOAD_CONCURRENCY) {
    const u = uploads.find((x) => x.state === 'waiting');
    if (!u) return;
    running++;
    runUpload(u).finally(() => { running--; pump(); });
  }
}

async function runUpload(u) {
  const api = state.api;
  const size = u.file.size;
  u.state = 'hashing';
  u.st.textContent = 'Checking…';
  const setProgress = (frac) => { u.bar.value = Math.round(frac * 100); };
  try {
    // The hash is computed while the file is read in slices (half of the bar), then
    // the body is sent with X-Content-SHA256 (the other half).
    const sha = await hashBlob(u.file, {
      signal: u.ctrl.signal,
      onProgress: (done) => { setProgress(size ? 0.5 * done / size : 0.5); },
    });
    if (u.ctrl.signal.aborted || api !== state.api) throw new ApiError(0, 'aborted', 'cancelled');
    u.state = 'uploading';
    u.st.textContent = 'Uploading…';
    const up = api.upload(u.path, u.file, sha, (loaded, total) => { setProgress(0.5 + 0.5 * (total ? loaded / total : 1)); });
    u.abort = up.abort;
    const meta = await up.promise;
    setProgress(1);
    finishUpload(u, 'done', 'Done · ' + humanSize(size));
    if (meta && meta.path) upsert(meta, meta.seq);
    scheduleUsage();
  } catch (e) {
    if (e instanceof ApiError && e.code === 'aborted') {
      finishUpload(u, 'cancelled', 'Cancelled');
      return;
    }
    let err = e;
    if (e instanceof ApiError && e.code === 'network' && api === state.api) {
      // The server may have answered early and closed (quota, size): find out why.
      try {
        const us = await api.usage();
        showUsage(us);
        if (us.quota && us.used + size > us.quota) err = new ApiError(413, 'quota_exceeded', '');
      } catch { /* keep the network error */ }
    }
    finishUpload(u, 'failed', describe(err, 'upload'));
  }
}

function uploadFiles(files) {
  for (const f of files) queueUpload(f, f.webkitRelativePath || f.name);
}

// filesFromDrop collects [file, relPath] pairs from a drop, walking folders.
async function filesFromDrop(dt) {
  const out = [];
  const entries = [];
  const loose = [];
  for (const item of dt.items || []) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry ? item.webkitGetAsEntry() : null;
    if (entry) entries.push(entry);
    else {
      const f = item.getAsFile();
      if (f) loose.push(f);
    }
  }
  if (entries.length === 0 && loose.length === 0) for (const f of dt.files || []) loose.push(f);
  for (const f of loose) out.push([f, f.webkitRelativePath || f.name]);
  const walk = async (entry, prefix) => {
    if (entry.isFile) {
      const f = await new Promise((res, rej) => entry.file(res, rej));
      out.push([f, prefix + entry.name]);
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (batch.length === 0) break;
        for (const e of batch) await walk(e, prefix + entry.name + '/');
      }
    }
  };
  for (const e of entries) await walk(e, '');
  return out;
}

function setupDrop() {
  let depth = 0;
  const mask = $('dropmask');
  const hasFiles = (ev) => ev.dataTransfer && Array.from(ev.dataTransfer.types || []).includes('Files');
  document.addEventListener('dragenter', (ev) => {
    if (!state.mayWrite(state.dir) || !hasFiles(ev)) return;
    ev.preventDefault();
    depth++;
    mask.hidden = false;
  });
  document.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) mask.hidden = true;
  });
  document.addEventListener('dragover', (ev) => {
    if (!state.mayWrite(state.dir) || !hasFiles(ev)) return;
    ev.preventDefault();
    ev.dataTransfer.dropEffect = 'copy';
  });
  document.addEventListener('drop', async (ev) => {
    depth = 0;
    mask.hidden = true;
    if (!state.mayWrite(state.dir) || !ev.dataTransfer) return;
    ev.preventDefault();
    const pairs = await filesFromDrop(ev.dataTransfer);
    for (const [f, rel] of pairs) queueUpload(f, rel);
  });
}

// ---------- keyboard ----------

function onListKey(ev) {
  const i = selectedIndex();
  const page = Math.max(1, Math.floor($('list').clientHeight / ROW) - 1);
  switch (ev.key) {
    case 'ArrowDown': select(i < 0 ? 0 : i + 1, true); break;
    case 'ArrowUp': select(i < 0 ? 0 : i - 1, true); break;
    case 'PageDown': select((i < 0 ? 0 : i) + page, true); break;
    case 'PageUp': select((i < 0 ? 0 : i) - page, true); break;
    case 'Home': select(0, true); break;
    case 'End': select(state.view.length - 1, true); break;
    case 'Enter': activate(selectedEntry()); break;
    case 'Backspace': if (state.dir) go(parentOf(state.dir)); break;
    case 'Delete': if (!$('btn-delete').disabled) confirmDelete(); break;
    case 'F2': if (!$('btn-rename').disabled) renameOrMove(); break;
    default: return;
  }
  ev.preventDefault();
}

// ---------- wiring ----------

function wire() {
  $('signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token-input').value.trim();
    if (!t) {
      $('signin-error').textContent = 'Paste a token first.';
      return;
    }
    signIn(t);
  });
  $('signout').addEventListener('click', () => signOut('You are signed out. The token was forgotten by this tab.'));
  $('signin-forget').addEventListener('click', () => signOut('The token was forgotten by this tab.'));
  window.addEventListener('hashchange', () => {
    if (location.hash.includes('token=')) {
      takeTokenFromFragment();
      const t = sessionStorage.getItem(TOKEN_KEY);
      if (!t) return;
      if (state.api) {
        // A link opened in a signed-in tab starts afresh: nothing of the session it
        // replaces (uploads, dialogs, the list) carries over.
        signOut('');
        sessionStorage.setItem(TOKEN_KEY, t);
      }
      signIn(t);
      return;
    }
    if (state.api) openDir(dirFromHash());
  });
  $('list').addEventListener('scroll', queueRender, { passive: true });
  window.addEventListener('resize', queueRender);
  $('list').addEventListener('click', (ev) => {
    const row = ev.target.closest('.row');
    if (row) select(Number(row.dataset.index), false);
  });
  $('list').addEventListener('dblclick', (ev) => {
    const row = ev.target.closest('.row');
    if (row) activate(state.view[Number(row.dataset.index)]);
  });
  $('list').addEventListener('keydown', onListKey);
  $('list').addEventListener('focus', () => { if (!state.selected && state.view.length) select(0, true); });
  $('filter').addEventListener('input', () => { state.filter = $('filter').value; rebuildView(); });
  $('filter').addEventListener('keydown', (ev) => { if (ev.key === 'ArrowDown') { $('list').focus(); ev.preventDefault(); } });
  for (const b of document.querySelectorAll('.listhead .sort')) {
    b.addEventListener('click', () => {
      const k = b.dataset.key;
      state.sort = { key: k, dir: state.sort.key === k ? -state.sort.dir : 1 };
      rebuildView();
      const i = selectedIndex();
      if (i >= 0) select(i, true); // keep the selection in view
      else $('list').scrollTop = 0;
    });
  }
  $('btn-upload').addEventListener('click', () => $('pick-files').click());
  $('btn-upload-folder').addEventListener('click', () => $('pick-folder').click());
  for (const id of ['pick-files', 'pick-folder']) {
    $(id).addEventListener('change', (ev) => {
      uploadFiles(Array.from(ev.target.files));
      ev.target.value = '';
    });
  }
  $('btn-mkdir').addEventListener('click', newFolder);
  $('btn-download').addEventListener('click', () => activateDownload());
  $('btn-rename').addEventListener('click', renameOrMove);
  $('btn-delete').addEventListener('click', confirmDelete);
  $('btn-versions').addEventListener('click', showVersions);
  $('btn-deleted').addEventListener('click', toggleDeleted);
  $('uploads-clear').addEventListener('click', () => {
    for (let i = uploads.length - 1; i >= 0; i--) {
      if (['done', 'failed', 'cancelled'].includes(uploads[i].state)) {
        uploads[i].li.remove();
        uploads.splice(i, 1);
      }
    }
    if (uploads.length === 0) $('uploads').hidden = true;
  });
  $('dlg-name-form').addEventListener('submit', nameSubmit);
  $('dlg-delete-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if ($('dlg-delete').onconfirm) $('dlg-delete').onconfirm();
  });
  for (const b of document.querySelectorAll('dialog .cancel')) {
    b.addEventListener('click', () => { b.closest('dialog').close(); $('list').focus(); });
  }
  setupDrop();
  setupTeam({
    el, humanDate, baseName,
    api: () => state.api,
    selected: selectedEntry,
    jti: () => (state.claims && state.claims.jti) || '',
  });
}

function activateDownload() {
  const m = selectedEntry();
  if (m) download(m);
}

function main() {
  // A new client id for each page load: a duplicated tab (which copies sessionStorage)
  // must not share one, or the server would not send it the other tab's changes.
  state.clientId = randomId();
  wire();
  takeTokenFromFragment();
  const t = sessionStorage.getItem(TOKEN_KEY);
  if (t) signIn(t);
  else showSignIn('');
}

main();
