// Share links (role write) and team administration (role admin): the Share dialog, the
// "Share links" panel, the "Team" panel and the invite dialog. Everything goes through
// the public API with the user's token; the server decides what each token may do.

import { describe } from './api.js';

const $ = (id) => document.getElementById(id);

// ctx is given by the app: el (element builder), humanDate, api() (the signed-in Api),
// selected() (the selected entry's metadata or null), baseName.
let ctx = null;

function status(id, text, bad) {
  const s = $(id);
  s.textContent = text;
  s.classList.toggle('bad', !!bad);
}

// ---------- share a file or folder ----------

function openShare() {
  const m = ctx.selected();
  if (!m) return;
  const dlg = $('dlg-share');
  dlg.sharePath = m.path;
  $('dlg-share-title').textContent = 'Share "' + ctx.baseName(m.path) + '"';
  $('dlg-share-ask').hidden = false;
  $('dlg-share-done').hidden = true;
  $('dlg-share-ok').hidden = false;
  $('dlg-share-copy').hidden = true;
  $('dlg-share-cancel').textContent = 'Cancel';
  $('dlg-share-password').value = '';
  $('dlg-share-url').value = '';
  $('dlg-share-error').textContent = '';
  dlg.showModal();
  $('dlg-share-expiry').focus();
}

async function shareSubmit(ev) {
  ev.preventDefault();
  const dlg = $('dlg-share');
  const ok = $('dlg-share-ok');
  ok.disabled = true;
  try {
    const ans = await ctx.api().createShare(dlg.sharePath, $('dlg-share-expiry').value, $('dlg-share-password').value);
    $('dlg-share-password').value = '';
    $('dlg-share-ask').hidden = true;
    $('dlg-share-done').hidden = false;
    $('dlg-share-url').value = ans.url;
    $('dlg-share-expires').textContent = 'Expires ' + ctx.humanDate(ans.expires_at) + '.';
    ok.hidden = true;
    $('dlg-share-copy').hidden = false;
    $('dlg-share-cancel').textContent = 'Close';
    $('dlg-share-error').textContent = '';
    $('dlg-share-url').focus();
    $('dlg-share-url').select();
    if (!$('shares-view').hidden) loadShares();
  } catch (e) {
    $('dlg-share-error').textContent = 'The link was not made: ' + describe(e, 'share');
  } finally {
    ok.disabled = false;
  }
}

async function copyFrom(id, what) {
  const input = $(id);
  input.focus();
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
    $(what).textContent = 'Copied.';
  } catch {
    $(what).textContent = 'Press Ctrl+C (or ⌘C) to copy the selected text.';
  }
}

// ---------- the "Share links" panel ----------

function togglePanel(button, panel, load) {
  const on = $(panel).hidden;
  $(button).setAttribute('aria-pressed', String(on));
  $(panel).hidden = !on;
  if (on) load();
}

function revokeButton(label, name, statusId, revoke, done) {
  return ctx.el('button', {
    type: 'button', class: 'small danger', text: label, 'aria-label': label + ' ' + name,
    onclick: async (ev) => {
      ev.target.disabled = true;
      try {
        await revoke();
        await done();
        status(statusId, 'Revoked ' + name + '.');
      } catch (e) {
        status(statusId, 'Revoking ' + name + ' failed: ' + describe(e, 'revoke'), true);
        ev.target.disabled = false;
      }
    },
  });
}

async function loadShares() {
  const { el, humanDate } = ctx;
  status('shares-status', 'Loading…');
  try {
    const ans = await ctx.api().shares();
    // The API lists revoked and expired links too; they no longer work.
    const now = Date.now();
    const live = ans.shares.filter((s) => !s.revoked_at && !(Date.parse(s.expires_at) <= now));
    status('shares-status', live.length ? '' : 'No share links.');
    $('shares-list').replaceChildren(...live.map((s) => el('li', { 'data-key': s.key },
      el('span', { class: 'dpath', text: s.path || '(the whole space)' }),
      el('span', { class: 'dmeta', text: 'by ' + s.created_by + ' · expires ' + humanDate(s.expires_at) + (s.has_password ? ' · password' : '') }),
      revokeButton('Revoke', 'the link to "' + s.path + '"', 'shares-status',
        () => ctx.api().revokeShare(s.key), loadShares))));
  } catch (e) {
    status('shares-status', describe(e, 'shares'), true);
  }
}

// ---------- the "Team" panel ----------

async function loadTeam() {
  const { el, humanDate } = ctx;
  status('team-status', 'Loading…');
  try {
    const api = ctx.api();
    const [tk, dv] = await Promise.all([api.teamTokens(), api.teamDevices()]);
    // Only what still signs in: the devices list keeps revoked and expired devices,
    // and a token may expire between the server's answer and now (browser's clock).
    const now = Date.now();
    const live = (exp) => !(Date.parse(exp) <= now);
    const tokens = tk.tokens.filter((t) => !t.revoked && live(t.expires_at));
    const devices = dv.devices.filter((d) => !d.revoked_at && live(d.expires_at));
    status('team-status', '');
    $('team-tokens').replaceChildren(...tokens.map((t) => el('li', { 'data-jti': t.jti },
      el('span', { class: 'dpath', text: t.subject + ' · ' + t.role + (t.paths && t.paths.length ? ' · only ' + t.paths.join(', ') : '') }),
      el('span', { class: 'dmeta', text: 'issued ' + humanDate(t.issued_at) + (t.expires_at ? ' · expires ' + humanDate(t.expires_at) : '') }),
      t.jti === ctx.jti() ? el('span', { class: 'dmeta', text: '(this sign-in)' })
        : revokeButton('Revoke', 'the token of ' + t.subject, 'team-status', () => api.revokeToken(t.jti), loadTeam))));
    if (!tokens.length) $('team-tokens').replaceChildren(el('li', { text: 'No tokens.' }));
    $('team-devices').replaceChildren(...devices.map((d) => el('li', null,
      el('span', { class: 'dpath', text: d.device + ' · ' + d.subject + ' · ' + d.role }),
      el('span', { class: 'dmeta', text: 'enrolled ' + humanDate(d.created_at) + (d.last_used_at ? ' · last used ' + humanDate(d.last_used_at) : '') }))));
    if (!devices.length) $('team-devices').replaceChildren(el('li', { text: 'No devices.' }));
  } catch (e) {
    status('team-status', describe(e, 'team'), true);
  }
}

function openInvite() {
  $('dlg-invite-ask').hidden = false;
  $('dlg-invite-done').hidden = true;
  $('dlg-invite-ok').hidden = false;
  $('dlg-invite-cancel').textContent = 'Cancel';
  $('dlg-invite-subject').value = '';
  $('dlg-invite-path').value = '';
  $('dlg-invite-link').value = '';
  $('dlg-invite-token').value = '';
  $('dlg-invite-error').textContent = '';
  $('dlg-invite').showModal();
  $('dlg-invite-subject').focus();
}

async function inviteSubmit(ev) {
  ev.preventDefault();
  const subject = $('dlg-invite-subject').value.trim();
  const path = $('dlg-invite-path').value.trim().replace(/^\/+|\/+$/g, '');
  if (!subject) {
    $('dlg-invite-error').textContent = 'Type a name for the member.';
    return;
  }
  const ok = $('dlg-invite-ok');
  ok.disabled = true;
  try {
    const ans = await ctx.api().issueToken(subject, $('dlg-invite-role').value, path ? [path] : []);
    $('dlg-invite-ask').hidden = true;
    $('dlg-invite-done').hidden = false;
    $('dlg-invite-link').value = new URL(location.pathname, location.origin).href + '#token=' + ans.token;
    $('dlg-invite-token').value = ans.token;
    ok.hidden = true;
    $('dlg-invite-cancel').textContent = 'Close';
    $('dlg-invite-error').textContent = '';
    $('dlg-invite-link').focus();
    $('dlg-invite-link').select();
    loadTeam();
  } catch (e) {
    $('dlg-invite-error').textContent = 'Not invited: ' + describe(e, 'invite');
  } finally {
    ok.disabled = false;
  }
}

// setupTeam wires the controls once; helpers come from the app.
export function setupTeam(helpers) {
  ctx = helpers;
  $('btn-share').addEventListener('click', openShare);
  $('dlg-share-form').addEventListener('submit', shareSubmit);
  $('dlg-share-copy').addEventListener('click', () => copyFrom('dlg-share-url', 'dlg-share-expires'));
  $('btn-shares').addEventListener('click', () => togglePanel('btn-shares', 'shares-view', loadShares));
  $('btn-team').addEventListener('click', () => togglePanel('btn-team', 'team-view', loadTeam));
  $('btn-invite').addEventListener('click', openInvite);
  $('dlg-invite-form').addEventListener('submit', inviteSubmit);
}

// resetTeam closes the panels (at sign-in and sign-out) and shows the admin controls to
// an admin token only.
export function resetTeam(isAdmin) {
  for (const [b, p] of [['btn-shares', 'shares-view'], ['btn-team', 'team-view']]) {
    $(b).setAttribute('aria-pressed', 'false');
    $(p).hidden = true;
  }
  $('btn-team').hidden = !isAdmin;
  status('shares-status', '');
  status('team-status', '');
  $('shares-list').replaceChildren();
  $('team-tokens').replaceChildren();
  $('team-devices').replaceChildren();
}
