// Vigie's only script: the WebAuthn ceremonies of the partner pages. Same origin, no
// dependencies. The server keeps every ceremony's state; this file only carries JSON between
// the server and navigator.credentials. Buttons declare what they do with data-action.
'use strict';

// The page's words for a ceremony's progress (the status element carries them, in the page's
// language), or the English default.
function message(name, fallback) {
  const el = document.getElementById('status');
  return (el && el.dataset[name]) || fallback;
}

function status(text, isError) {
  const el = document.getElementById('status');
  if (el) {
    el.textContent = text;
    el.className = isError ? 'status error' : 'status';
  }
}

// A path of ours to go to next (the server checks it too): one leading slash, no other host.
function localPath(raw) {
  return typeof raw === 'string' && raw.startsWith('/') && !raw.startsWith('//') && !raw.includes('\\')
    ? raw
    : '/scope';
}

async function post(url, body) {
  const r = await fetch(url, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body === undefined ? {} : body),
  });
  const text = await r.text();
  const data = text ? JSON.parse(text) : null;
  if (!r.ok) {
    const err = new Error((data && data.detail) || (url + ': ' + r.status));
    err.problem = data && data.type;
    throw err;
  }
  return data;
}

async function passkeyLogin() {
  const start = await post('/v1/login/passkey/start');
  const cred = await navigator.credentials.get({
    publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(start.publicKey),
  });
  await post('/v1/login/passkey/finish', { ceremony: start.ceremony, credential: cred.toJSON() });
  // Home sends each role to its own work (an administrator to the accounts, an advisor to its scope).
  window.location.assign('/');
}

async function register(startUrl, finishUrl, label) {
  const start = await post(startUrl, label === undefined ? undefined : { label: label });
  const cred = await navigator.credentials.create({
    publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(start.publicKey),
  });
  return post(finishUrl, { ceremony: start.ceremony, credential: cred.toJSON(), label: label });
}

async function passkeyRegister() {
  const input = document.getElementById('passkey-label');
  const label = input ? input.value : 'passkey';
  try {
    await register('/v1/passkeys/register/start', '/v1/passkeys/register/finish', label);
  } catch (e) {
    if (e.problem === 'urn:vigie:problem:step-up-required') {
      window.location.assign('/step-up?next=' + encodeURIComponent(window.location.pathname));
      return;
    }
    throw e;
  }
  window.location.reload();
}

async function passkeyEnrol(button) {
  const token = button.dataset.token;
  await register('/v1/enrol/' + token + '/passkey/start', '/v1/enrol/' + token + '/passkey/finish', 'passkey');
  status(message('done', 'Passkey registered. You can now sign in.'));
  // The sign-in page says it too: this page's status is gone as soon as it is left.
  window.location.assign('/login?enrolled=1');
}

async function passkeyStepUp(button) {
  const start = await post('/v1/step-up/passkey/start');
  const cred = await navigator.credentials.get({
    publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(start.publicKey),
  });
  await post('/v1/step-up/passkey/finish', { ceremony: start.ceremony, credential: cred.toJSON() });
  window.location.assign(localPath(button.dataset.next));
}

const actions = {
  'passkey-login': passkeyLogin,
  'passkey-register': passkeyRegister,
  'passkey-enrol': passkeyEnrol,
  'passkey-step-up': passkeyStepUp,
};

document.addEventListener('click', async (ev) => {
  const button = ev.target.closest('[data-action]');
  if (!button || !actions[button.dataset.action]) {
    return;
  }
  ev.preventDefault();
  button.disabled = true;
  status(message('waiting', 'Waiting for your passkey…'));
  try {
    await actions[button.dataset.action](button);
  } catch (e) {
    status((e.name && e.name !== 'Error' ? e.name + ': ' : '') + e.message, true);
  } finally {
    button.disabled = false;
  }
});
