// The console's only script, on top of pages that work without it: the alert queue refreshes
// its first page every five seconds (the rows come from the server, already escaped), and a
// running verification of the ledger reloads its page to show its progress. Same origin only.
'use strict';

function refreshQueue() {
  const live = document.getElementById('live');
  const body = document.getElementById('alert-rows');
  if (!live || !body || !live.dataset.rows) return;
  let newest = Number(live.dataset.newest || '0');
  const note = live.textContent;
  setInterval(async () => {
    try {
      const r = await fetch(live.dataset.rows, { credentials: 'same-origin', headers: { accept: 'text/html' } });
      if (!r.ok) return;
      const html = await r.text();
      const top = Number(r.headers.get('vigie-newest-alert') || '0');
      body.innerHTML = html;
      if (top > newest) {
        newest = top;
        live.textContent = note + ' · ' + new Date().toLocaleTimeString();
      }
    } catch (e) {
      // The next tick tries again.
    }
  }, 5000);
}

function followVerification() {
  const el = document.getElementById('verifying');
  if (el && el.dataset.reload) setTimeout(() => location.reload(), Number(el.dataset.reload));
}

document.addEventListener('DOMContentLoaded', () => {
  refreshQueue();
  followVerification();
});
