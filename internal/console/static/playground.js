// The playground builds a group call from the form as you type and shows
// the same call for analytics.js, analytics-node and curl.
'use strict';
(() => {
  const form = document.getElementById('playground');
  if (!form) return;
  const payload = document.getElementById('payload');
  const customBox = document.getElementById('custom');

  // A number field that holds no number is sent as typed, so that the
  // server's warning for it can be seen.
  function typed(value, type) {
    if (type === 'number' && /^-?\d+(\.\d+)?$/.test(value.trim())) return Number(value);
    return value;
  }

  function build() {
    const msg = { type: 'group' };
    const v = (name) => form.elements[name].value.trim();
    if (v('userId')) msg.userId = v('userId');
    if (v('anonymousId')) msg.anonymousId = v('anonymousId');
    msg.groupId = v('groupId');
    const traits = {};
    for (const input of form.querySelectorAll('[data-trait]')) {
      if (input.value.trim() !== '') traits[input.dataset.trait] = typed(input.value, input.dataset.type);
    }
    const address = {};
    for (const input of form.querySelectorAll('[data-address]')) {
      if (input.value.trim() !== '') address[input.dataset.address] = input.value;
    }
    if (Object.keys(address).length) traits.address = address;
    for (const row of customBox.querySelectorAll('.custom-row')) {
      const [k, val] = row.querySelectorAll('input');
      if (!k.value.trim()) continue;
      let value = val.value;
      try { value = JSON.parse(val.value); } catch (_) { /* a string */ }
      traits[k.value.trim()] = value;
    }
    msg.traits = traits;
    msg.timestamp = new Date().toISOString();
    payload.value = JSON.stringify(msg, null, 2);
    snippets();
  }

  const shellQuote = (s) => "'" + s.replace(/'/g, "'\\''") + "'";

  function snippets() {
    let msg;
    try { msg = JSON.parse(payload.value); } catch (_) {
      for (const id of ['snip-ajs', 'snip-node', 'snip-curl']) document.getElementById(id).textContent = '(the payload is not valid JSON)';
      return;
    }
    const traits = msg.traits || {};
    document.getElementById('snip-ajs').textContent =
      'analytics.group(' + JSON.stringify(msg.groupId) + ', ' + JSON.stringify(traits, null, 2) + ');';
    const call = {};
    if (msg.userId !== undefined) call.userId = msg.userId;
    if (msg.anonymousId !== undefined) call.anonymousId = msg.anonymousId;
    call.groupId = msg.groupId;
    call.traits = traits;
    document.getElementById('snip-node').textContent =
      "import { Analytics } from '@segment/analytics-node';\n" +
      "const analytics = new Analytics({ writeKey: process.env.ROSTER_WRITE_KEY, host: " + JSON.stringify(location.origin) + " });\n" +
      'analytics.group(' + JSON.stringify(call, null, 2) + ');';
    document.getElementById('snip-curl').textContent =
      'curl -u "$ROSTER_WRITE_KEY:" ' + shellQuote(location.origin + '/v1/group') +
      " -H 'Content-Type: application/json' \\\n  -d " + shellQuote(JSON.stringify(msg));
  }

  form.addEventListener('input', (e) => {
    if (e.target === payload) snippets(); else build();
  });
  document.getElementById('add-custom').addEventListener('click', () => {
    const row = customBox.querySelector('.custom-row').cloneNode(true);
    for (const input of row.querySelectorAll('input')) input.value = '';
    customBox.insertBefore(row, document.getElementById('add-custom'));
  });
  if (payload.value.trim() === '') build(); else snippets();
})();
