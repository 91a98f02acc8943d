// pusherpy console: the log arrives as Server-Sent Events, counters and channels are polled as JSON, the event
// creator posts JSON with the session's CSRF token. No framework, no build step: this file is served as it is.

const MAX_ROWS = 2000;          // rows kept in the page; older ones are removed
const STATS_EVERY_MS = 2000;
const CHANNELS_EVERY_MS = 3000;
const NEAR_BOTTOM_PX = 24;      // closer than this to the bottom counts as "at the bottom" (following)

const $ = (selector) => document.querySelector(selector);
const csrf = document.querySelector('meta[name="pusherpy-csrf"]').content;
const hasLogin = document.querySelector('meta[name="pusherpy-login"]').content === 'true';

const state = {
  appId: null,
  source: null,
  entries: [],        // every entry received for this app (bounded), filters re-render from it
  paused: false,      // following stopped: by the button, or by scrolling up
  pending: 0,         // entries received while paused
  timers: [],
};

const log = $('#log');

function api(path) {
  return `console/api/apps/${encodeURIComponent(state.appId)}/${path}`;
}

async function getJSON(url) {
  const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (response.status === 401) { location.reload(); throw new Error('logged out'); }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

// -- the log ----------------------------------------------------------------------------------------------------

function timeOf(ms) {
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function describe(entry) {
  // [label, value] pairs in the order a reader scans them.
  const parts = [];
  if (entry.channel) parts.push(['channel', entry.channel]);
  if (entry.event) parts.push(['event', entry.event]);
  if (entry.user_id) parts.push(['user', entry.user_id]);
  if (entry.socket_id) parts.push(['socket', entry.socket_id]);
  if (entry.origin) parts.push(['origin', entry.origin]);
  if (entry.code !== undefined) parts.push(['code', String(entry.code)]);
  if (entry.message) parts.push(['', entry.message]);
  if (entry.size !== undefined) parts.push(['size', `${entry.size} B`]);
  return parts;
}

function textOf(entry) {
  return [entry.kind, entry.node, ...describe(entry).map(([, v]) => v), entry.preview].filter(Boolean).join(' ').toLowerCase();
}

function matches(entry) {
  const kind = $('#kind-filter').value;
  const text = $('#text-filter').value.trim().toLowerCase();
  return (!kind || entry.kind === kind) && (!text || textOf(entry).includes(text));
}

function row(entry) {
  const el = document.createElement('div');
  el.className = 'entry';
  el.dataset.kind = entry.kind;
  const time = document.createElement('time');
  time.textContent = timeOf(entry.at_ms);
  time.dateTime = new Date(entry.at_ms).toISOString();
  const kind = document.createElement('span');
  kind.className = `kind k-${entry.kind}`;
  kind.textContent = entry.kind.replaceAll('_', ' ');
  const what = document.createElement('span');
  what.className = 'what';
  for (const [label, value] of describe(entry)) {
    if (label) what.append(`${label} `);
    const b = document.createElement('b');
    b.textContent = value;
    what.append(b, '  ');
  }
  if (entry.node) {
    const node = document.createElement('span');
    node.className = 'node';
    node.textContent = `@${entry.node}`;
    what.append(node);
  }
  const tools = document.createElement('span');
  if (entry.preview) {
    const preview = document.createElement('code');
    preview.className = 'preview';
    preview.textContent = entry.preview;
    preview.title = 'Click to expand';
    preview.addEventListener('click', () => el.classList.toggle('open'));
    what.append(preview);
    const copy = document.createElement('button');
    copy.type = 'button';
    copy.className = 'copy';
    copy.textContent = 'copy';
    copy.setAttribute('aria-label', 'Copy payload');
    copy.addEventListener('click', () => copyText(entry.preview, copy));
    tools.append(copy);
  }
  el.append(time, kind, what, tools);
  return el;
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = document.createElement('textarea');
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  button.textContent = 'copied';
  setTimeout(() => { button.textContent = 'copy'; }, 1200);
}

function atBottom() {
  return log.scrollHeight - log.scrollTop - log.clientHeight < NEAR_BOTTOM_PX;
}

function showCount() {
  $('#log-count').textContent = `${log.childElementCount} shown / ${state.entries.length}`;
  const resume = $('#resume');
  resume.hidden = !state.paused;
  resume.textContent = state.pending ? `${state.pending} new — resume` : 'paused — resume';
  $('#pause').setAttribute('aria-pressed', String(state.paused));
  $('#pause').textContent = state.paused ? 'Paused' : 'Pause';
}

function append(entries) {
  for (const entry of entries) {
    state.entries.push(entry);
    if (state.paused) { state.pending += 1; continue; }
    if (matches(entry)) log.append(row(entry));
  }
  if (state.entries.length > MAX_ROWS) state.entries.splice(0, state.entries.length - MAX_ROWS);
  while (log.childElementCount > MAX_ROWS) log.firstElementChild.remove();
  if (!state.paused) log.scrollTop = log.scrollHeight;
  showCount();
}

function render() {
  log.replaceChildren(...state.entries.filter(matches).map(row));
  state.pending = 0;
  if (!state.paused) log.scrollTop = log.scrollHeight;
  showCount();
}

function setPaused(paused) {
  if (state.paused === paused) return;
  state.paused = paused;
  if (!paused) render();
  showCount();
}

log.addEventListener('scroll', () => {
  // Scrolling up pauses (the reader is reading); coming back to the bottom resumes.
  if (!atBottom()) setPaused(true);
  else if (state.paused) setPaused(false);
});
$('#pause').addEventListener('click', () => setPaused(!state.paused));
$('#resume').addEventListener('click', () => setPaused(false));
$('#clear').addEventListener('click', () => { state.entries = []; state.pending = 0; render(); });
$('#kind-filter').addEventListener('change', render);
$('#text-filter').addEventListener('input', render);

function follow() {
  if (state.source) state.source.close();
  const status = $('#stream-state');
  const source = new EventSource(api('log'));
  state.source = source;
  source.addEventListener('hello', () => {
    state.entries = [];
    state.pending = 0;
    $('#dropped').hidden = true;
    render();
    status.textContent = 'live';
    status.className = 'stream-state live';
  });
  source.addEventListener('message', (event) => append([JSON.parse(event.data)]));
  source.addEventListener('dropped', (event) => {
    const { dropped } = JSON.parse(event.data);
    const note = $('#dropped');
    note.hidden = false;
    note.textContent = `${dropped} entries dropped (this page read too slowly)`;
  });
  source.addEventListener('error', () => {
    status.textContent = source.readyState === EventSource.CLOSED ? 'stopped (reload the page)' : 'reconnecting…';
    status.className = 'stream-state down';
  });
}

// -- counters and channels --------------------------------------------------------------------------------------

async function refreshStats() {
  try {
    const stats = await getJSON(api('stats'));
    for (const el of document.querySelectorAll('[data-stat]')) {
      const value = stats[el.dataset.stat];
      el.textContent = value === undefined ? '–' : String(value);
    }
  } catch (error) {
    console.warn('stats:', error);
  }
}

async function refreshChannels() {
  const prefix = $('#channel-prefix').value.trim();
  try {
    const body = await getJSON(`${api('channels')}?filter_by_prefix=${encodeURIComponent(prefix)}`);
    const rows = body.channels.map((channel) => {
      const tr = document.createElement('tr');
      tr.dataset.channel = channel.name;
      const name = document.createElement('td');
      const pick = document.createElement('button');
      pick.type = 'button';
      pick.className = 'link';
      pick.textContent = channel.name;
      pick.title = 'Show this channel in the log, and send to it';
      pick.addEventListener('click', () => pickChannel(channel.name));
      name.append(pick);
      const subs = document.createElement('td');
      subs.textContent = String(channel.subscription_count);
      const extra = document.createElement('td');
      extra.className = 'members';
      if (channel.members) extra.textContent = `${channel.user_count}: ${channel.members.join(', ')}`;
      else if (channel.user_count !== undefined) extra.textContent = String(channel.user_count);
      if ('cache' in channel) extra.textContent = channel.cache ? `cached ${channel.cache.event} (${channel.cache.ttl} s)` : 'cache empty';
      tr.append(name, subs, extra);
      return tr;
    });
    $('#channels').replaceChildren(...rows);
    $('#channel-total').textContent = body.truncated ? `${body.channels.length} of ${body.total}` : `${body.total}`;
  } catch (error) {
    console.warn('channels:', error);
  }
}

function pickChannel(name) {
  // A channel picked in the list: the log shows it alone, and the event creator sends to it.
  $('#text-filter').value = name;
  $('#creator').elements.channel.value = name;
  render();
}

let prefixTimer = null;
$('#channel-prefix').addEventListener('input', () => {
  clearTimeout(prefixTimer);
  prefixTimer = setTimeout(refreshChannels, 250);
});

// -- the event creator ------------------------------------------------------------------------------------------

$('#creator').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const result = $('#creator-result');
  const raw = form.elements.data.value;
  let data;
  try {
    data = raw.trim() === '' ? '' : JSON.parse(raw);
  } catch (error) {
    result.className = 'error';
    result.textContent = `data is not valid JSON: ${error.message}`;
    return;
  }
  result.className = '';
  result.textContent = 'sending…';
  try {
    const response = await fetch(api('events'), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-Pusherpy-CSRF': csrf },
      body: JSON.stringify({ channel: form.elements.channel.value.trim(), event: form.elements.event.value.trim(), data }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    result.className = 'ok';
    result.textContent = `sent ${JSON.stringify(body)}`;
  } catch (error) {
    result.className = 'error';
    result.textContent = `refused: ${error.message}`;
  }
});

// -- keyboard ---------------------------------------------------------------------------------------------------

document.addEventListener('keydown', (event) => {
  const typing = ['INPUT', 'TEXTAREA', 'SELECT'].includes(document.activeElement?.tagName);
  if (event.key === 'Escape' && document.activeElement === $('#text-filter')) {
    $('#text-filter').value = '';
    render();
  } else if (!typing && event.key === '/') {
    event.preventDefault();
    $('#text-filter').focus();
  } else if (!typing && event.key === 'p') {
    setPaused(!state.paused);
  }
});

// -- choosing an app --------------------------------------------------------------------------------------------

function choose(appId) {
  state.appId = appId;
  history.replaceState(null, '', `#app=${encodeURIComponent(appId)}`);
  for (const timer of state.timers) clearInterval(timer);
  state.timers = [setInterval(refreshStats, STATS_EVERY_MS), setInterval(refreshChannels, CHANNELS_EVERY_MS)];
  follow();
  refreshStats();
  refreshChannels();
}

async function start() {
  $('#logout').hidden = !hasLogin;
  const { apps } = await getJSON('console/api/apps');
  const select = $('#app');
  for (const app of apps) {
    const option = document.createElement('option');
    option.value = app.id;
    option.textContent = app.name ? `${app.name} (${app.id})` : app.id;
    select.append(option);
  }
  const wanted = new URLSearchParams(location.hash.slice(1)).get('app');
  if (wanted && apps.some((app) => app.id === wanted)) select.value = wanted;
  select.addEventListener('change', () => choose(select.value));
  if (select.value) choose(select.value);
}

start();
