// The debugger: messages as they are committed, from the server's
// Server-Sent Events stream. Everything shown is set with textContent:
// messages are hostile input.
'use strict';
(() => {
  const root = document.getElementById('debugger');
  if (!root) return;
  const keep = Number(root.dataset.keep) || 500;
  const list = document.getElementById('stream');
  const status = document.getElementById('status');
  const dropped = document.getElementById('dropped');
  const pauseButton = document.getElementById('pause');
  const fType = document.getElementById('f-type');
  const fSource = document.getElementById('f-source');
  const fText = document.getElementById('f-text');
  const fView = document.getElementById('f-view');

  const items = []; // newest last: {it, li, pre}
  const seen = new Set();
  let waiting = []; // arrived while paused
  let paused = false;
  let droppedTotal = 0;

  const keyOf = (it) => [it.kind, it.source, it.messageId, it.receivedAt, it.reason || ''].join('\u0000');

  function pretty(raw) {
    try { return JSON.stringify(JSON.parse(raw), null, 2); } catch (_) { return raw; }
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function matches(it) {
    const t = fType.value;
    if (t === 'quarantined' && it.kind !== 'quarantined') return false;
    if (t === 'warnings' && !(it.warnings && it.warnings.length)) return false;
    if (t && t !== 'quarantined' && t !== 'warnings' && it.type !== t) return false;
    const s = fSource.value.trim().toLowerCase();
    if (s && !(it.source || '').toLowerCase().includes(s)) return false;
    const q = fText.value.trim().toLowerCase();
    if (q && !it.raw.toLowerCase().includes(q) && !(it.reason || '').toLowerCase().includes(q)) return false;
    return true;
  }

  function render(it) {
    const li = el('li', 'item kind-' + it.kind);
    const details = el('details');
    const summary = el('summary');
    summary.append(el('span', 'type type-' + (it.kind === 'quarantined' ? 'quarantined' : it.type), it.kind === 'quarantined' ? 'quarantined' : it.type));
    if (it.name) summary.append(' ', el('b', '', it.name));
    if (it.groupId) summary.append(' ', el('span', 'gid', 'group ' + it.groupId));
    const who = it.userId || it.anonymousId;
    if (who) summary.append(' ', el('code', 'uid', who));
    summary.append(' ', el('span', 'meta', '· ' + it.source + ' · ' + new Date(it.receivedAt).toLocaleTimeString()));
    if (it.warnings && it.warnings.length) summary.append(' ', el('span', 'warn', '⚠ ' + it.warnings.length));
    details.append(summary);
    if (it.reason) details.append(el('p', 'error', it.code + ': ' + it.reason));
    for (const w of it.warnings || []) details.append(el('p', 'warn', w));
    if (it.messageId) details.append(el('p', 'meta', 'messageId ' + it.messageId));
    const pre = el('pre', 'json', fView.value === 'raw' ? it.raw : pretty(it.raw));
    details.append(pre);
    li.append(details);
    li.hidden = !matches(it);
    return { it, li, pre };
  }

  function show(it) {
    const entry = render(it);
    items.push(entry);
    list.prepend(entry.li);
    while (items.length > keep) items.shift().li.remove();
  }

  function arrive(it) {
    const k = keyOf(it);
    if (seen.has(k)) return;
    seen.add(k);
    if (seen.size > keep * 4) { seen.clear(); for (const e of items) seen.add(keyOf(e.it)); }
    if (paused) {
      waiting.push(it);
      if (waiting.length > keep) waiting.shift();
      status.textContent = 'paused · ' + waiting.length + ' new';
      return;
    }
    show(it);
  }

  pauseButton.addEventListener('click', () => {
    paused = !paused;
    pauseButton.textContent = paused ? 'Resume' : 'Pause';
    if (!paused) {
      const w = waiting; waiting = [];
      for (const it of w) show(it);
      status.textContent = 'live';
    } else {
      status.textContent = 'paused';
    }
  });
  const refilter = () => { for (const e of items) e.li.hidden = !matches(e.it); };
  fType.addEventListener('change', refilter);
  fSource.addEventListener('input', refilter);
  fText.addEventListener('input', refilter);
  fView.addEventListener('change', () => {
    for (const e of items) e.pre.textContent = fView.value === 'raw' ? e.it.raw : pretty(e.it.raw);
  });

  const es = new EventSource('/console/debugger/stream');
  es.onmessage = (m) => { try { arrive(JSON.parse(m.data)); } catch (_) { /* a malformed line is skipped */ } };
  es.addEventListener('ready', () => { status.textContent = paused ? 'paused' : 'live'; });
  es.addEventListener('dropped', (m) => {
    let n = 0;
    try { n = JSON.parse(m.data).count; } catch (_) { /* keep 0 */ }
    droppedTotal += n;
    dropped.hidden = false;
    dropped.textContent = droppedTotal + ' messages were not shown: this browser fell behind the stream. Ingestion was not slowed.';
  });
  es.onerror = () => { status.textContent = 'disconnected · reconnecting…'; };
})();
