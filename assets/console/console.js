// The workspace console (SPEC §13): lists the caller's workspaces and opens a resumable terminal
// session (SPEC §12) in one, reconnecting by itself after a dropped socket.
//
// The token is taken once (typed, or `#token=` in the fragment, which is removed from the address
// bar at once) and kept in sessionStorage; it goes only into `Authorization` headers. Sockets are
// opened with single-use tickets, so no token is ever in a URL the server sees.
'use strict';

(() => {
  const KEY = 'workspace-server-token';
  const MAX_BACKOFF_MS = 10000;
  const $ = (id) => document.getElementById(id);

  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.has('token')) {
    sessionStorage.setItem(KEY, fragment.get('token'));
    history.replaceState(null, '', location.pathname + location.search);
  }
  const token = () => sessionStorage.getItem(KEY);

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path) {
    const res = await fetch(path, {
      method,
      headers: { Authorization: `Bearer ${token()}` },
      cache: 'no-store',
    });
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    if (!res.ok) {
      throw new ApiError(res.status, (body && body.error) || res.statusText);
    }
    return body;
  }

  function status(text, ok) {
    $('status').textContent = text;
    $('status').className = ok ? 'ok' : '';
  }

  function show(id) {
    for (const part of ['login', 'list', 'terminal']) {
      $(part).hidden = part !== id;
    }
    $('forget').hidden = !token();
  }

  function signIn(message) {
    sessionStorage.removeItem(KEY);
    show('login');
    $('login-error').textContent = message || '';
    $('token').focus();
  }

  $('login').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $('token').value.trim());
    $('token').value = '';
    start();
  });
  $('forget').addEventListener('click', () => signIn(''));
  $('by-id').addEventListener('submit', (event) => {
    event.preventDefault();
    const id = $('ws-id').value.trim();
    if (id) location.assign(`/console/workspaces/${encodeURIComponent(id)}`);
  });

  function cell(text) {
    const td = document.createElement('td');
    td.textContent = text == null ? '-' : String(text);
    return td;
  }

  async function listWorkspaces() {
    show('list');
    $('title').textContent = '';
    let listed;
    try {
      listed = await api('GET', '/workspaces');
    } catch (e) {
      if (e.status === 401 && e.message === 'admin auth required') {
        $('list-note').textContent =
          'This token cannot list workspaces (a workspace token sees only its own): open it by id.';
        return;
      }
      if (e.status === 401) return signIn(e.message);
      $('list-note').textContent = `Could not list workspaces: ${e.message}`;
      return;
    }
    const rows = $('rows');
    rows.replaceChildren();
    for (const ws of listed) {
      const tr = document.createElement('tr');
      const name = document.createElement('td');
      const link = document.createElement('a');
      link.href = `/console/workspaces/${encodeURIComponent(ws.id)}`;
      link.textContent = ws.name;
      name.append(link);
      const id = cell(ws.id);
      id.className = 'id';
      tr.append(name, cell(ws.status), cell(ws.tier), cell(ws.instance_id || 'docker'), id);
      rows.append(tr);
    }
    $('list-note').textContent = listed.length ? '' : 'No workspaces yet.';
  }

  // One terminal: a resumable session, resumed at the exact byte after a dropped socket.
  function openTerminal(id) {
    show('terminal');
    const term = new Terminal({ cursorBlink: true, scrollback: 5000 });
    const fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open($('terminal'));
    fit.fit();
    window.addEventListener('resize', () => fit.fit());
    api('GET', `/workspaces/${encodeURIComponent(id)}`)
      .then((ws) => { $('title').textContent = ws.name; document.title = `${ws.name} · console`; })
      .catch(() => {});

    const encoder = new TextEncoder();
    let socket = null;
    let session = null;
    let offset = 0; // bytes of the session's output received: where a resume starts
    let replayUntil = null; // while set, bytes received are a replay
    let writing = 0; // replayed writes xterm has not finished parsing
    let queued = []; // typed while disconnected or during a replay
    let backoff = 500;
    let ended = false;

    const replaying = () => replayUntil !== null || writing > 0;

    function sendInput(data) {
      if (socket && socket.readyState === WebSocket.OPEN && !replaying()) {
        socket.send(encoder.encode(data));
      } else {
        queued.push(data);
      }
    }

    function flushQueued() {
      if (replaying() || !socket || socket.readyState !== WebSocket.OPEN) return;
      const typed = queued.join('');
      queued = [];
      if (typed) socket.send(encoder.encode(typed));
    }

    // While replayed bytes are parsed, what the terminal "types" is its own answers to replayed
    // queries (cursor position, device attributes, colours): dropped, never sent to the shell.
    term.onData((data) => {
      if (replaying() && data.startsWith('\x1b')) return;
      sendInput(data);
    });
    term.onBinary((data) => {
      if (replaying()) return;
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(Uint8Array.from(data, (c) => c.charCodeAt(0)));
      }
    });
    term.onResize(({ cols, rows }) => {
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ type: 'resize', cols, rows }));
      }
    });

    function writeReplay(data) {
      writing += 1;
      term.write(data, () => {
        writing -= 1;
        flushQueued();
      });
    }

    function onFrame(event) {
      if (typeof event.data === 'string') {
        let frame = null;
        try {
          frame = JSON.parse(event.data);
        } catch {
          frame = null;
        }
        if (frame && frame.type === 'session') {
          session = frame.session;
          offset = frame.offset;
          if (typeof frame.snapshot === 'string') {
            term.reset();
            writeReplay(frame.snapshot);
          }
          replayUntil = offset < frame.live ? frame.live : null;
          flushQueued();
          return;
        }
        if (frame && frame.type === 'pong') return;
        term.write(event.data); // `Error: …` from the server
        return;
      }
      const bytes = new Uint8Array(event.data);
      offset += bytes.length;
      if (replayUntil !== null) {
        writeReplay(bytes);
        if (offset >= replayUntil) replayUntil = null;
      } else {
        term.write(bytes);
      }
    }

    async function sessionLives() {
      const path = `/workspaces/${encodeURIComponent(id)}/terminal/sessions`;
      const listed = await api('GET', path);
      return listed.some((s) => s.session === session && !s.exited);
    }

    async function reconnect() {
      if (ended) return;
      if (session) {
        try {
          if (!(await sessionLives())) {
            ended = true;
            status('the session has ended');
            return;
          }
        } catch (e) {
          if (e.status === 401) return signIn(e.message);
          // Unreachable: keep trying.
        }
      }
      const wait = backoff;
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      status(`connection lost — reconnecting in ${(wait / 1000).toFixed(1)} s`);
      setTimeout(connect, wait);
    }

    async function connect() {
      status(session ? 'reconnecting…' : 'connecting…');
      let ticket;
      try {
        ticket = (await api('POST', `/workspaces/${encodeURIComponent(id)}/terminal/ticket`)).ticket;
      } catch (e) {
        if (e.status === 401) return signIn(e.message);
        if (e.status === 404 || e.status === 403) {
          ended = true;
          return status(e.message);
        }
        return reconnect();
      }
      const query = session
        ? `session=${encodeURIComponent(session)}&offset=${offset}`
        : `session=new&cols=${term.cols}&rows=${term.rows}`;
      const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
      const url = `${scheme}://${location.host}/workspaces/${encodeURIComponent(id)}/terminal`
        + `?${query}&ticket=${encodeURIComponent(ticket)}`;
      const ws = new WebSocket(url);
      ws.binaryType = 'arraybuffer';
      socket = ws;
      ws.onopen = () => {
        backoff = 500;
        status('connected', true);
        ws.send(JSON.stringify({ type: 'resize', cols: term.cols, rows: term.rows }));
        term.focus();
      };
      ws.onmessage = onFrame;
      ws.onclose = (event) => {
        if (socket === ws) socket = null;
        replayUntil = null;
        if (event.code === 1000) {
          try {
            const reason = JSON.parse(event.reason);
            if ('exit_code' in reason) {
              ended = true;
              status(`the shell exited (${reason.exit_code})`);
              return;
            }
          } catch {
            // Not an exit: a drop like any other.
          }
        }
        reconnect();
      };
    }

    connect();
  }

  function start() {
    if (!token()) return signIn('');
    const match = location.pathname.match(/^\/console\/workspaces\/([^/]+)\/?$/);
    if (match) return openTerminal(decodeURIComponent(match[1]));
    return listWorkspaces();
  }

  start();
})();
