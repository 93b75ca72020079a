/*
 * Dklab_Realplexor: browser client for a Realplexor-compatible comet server.
 *
 * Served verbatim at <wait-url>?identifier=SCRIPT. This file must contain no
 * dollar-sign-plus-letter sequences: the server's placeholder substitution
 * would rewrite them.
 *
 * API (compatible with the original client):
 *
 *   var rpl = new Dklab_Realplexor('http://rpl.example.com/', 'ns_');
 *   rpl.logon('user');                      // ids become user_ns_<id>
 *   rpl.setCursor('chat', '1389709561.1');  // optional, chainable
 *   rpl.subscribe('chat', function (data, id, cursor) { ... });
 *   rpl.unsubscribe('chat', fn);            // or null for all callbacks
 *   rpl.execute();                          // (re)start long polling
 *
 * Unlike the original, this client needs no iframe and no document.domain:
 * it long-polls with fetch() straight from the page. When the WAIT server is
 * on another origin the request is a CORS "simple request" (GET, or POST with
 * a text/plain body), so the server only has to answer with
 * Access-Control-Allow-Origin (and Access-Control-Expose-Headers:
 * X-Realplexor-Cursor for the cursor extension below to work cross-origin).
 *
 * An optional 4th constructor argument overrides the settings the original
 * loader page got from the server configuration:
 *   { identifier: 'identifier',  // IDENTIFIER
 *     waitTimeout: 300,          // seconds, WAIT_TIMEOUT
 *     maxBounces: 10,            // JS_MAX_BOUNCES
 *     reconnectDelay: 0.01,      // seconds, JS_WAIT_RECONNECT_DELAY
 *     debug: false,              // JS_DEBUG
 *     credentials: undefined }   // fetch() credentials mode
 */
(function (root) {
  'use strict';

  var DEFAULTS = {
    identifier: 'identifier',
    waitTimeout: 300,
    maxBounces: 10,
    reconnectDelay: 0.01,
    debug: false,
    credentials: undefined
  };

  // Above this (list + path length) the original switched from GET to POST,
  // to stay clear of URL length limits in browsers and proxies.
  var GET_LIMIT = 1700;
  var BOUNCE_DELAY_MAX = 60000;
  var BACKOFF_MIN = 250;
  var BACKOFF_MAX = 30000;
  // Extra time granted past the server's WAIT_TIMEOUT before we assume the
  // connection was silently dropped (e.g. by a NAT or proxy) and reconnect.
  var WATCHDOG_GRACE = 30000;
  var CURSOR_RE = /^[0-9]+(\.[0-9]+)?$/;
  var CURSOR_HEADER = 'X-Realplexor-Cursor';
  var TIMEOUT_HEADER = 'X-Realplexor-Wait-Timeout';
  var LIST_BUDGET = 4000;

  // Thrown for a whitespace-only body: the server's WAIT_TIMEOUT expired
  // with nothing to deliver. Not an error, just "reconnect".
  var EMPTY = new Error('Empty response');

  function Dklab_Realplexor(fullUrl, namespace, viaDocumentWrite, options) {
    var m = /^([a-z][a-z0-9+.\-]*:\/\/[^\/?#]+)([^#]*)/i.exec(String(fullUrl == null ? '' : fullUrl));
    if (!m) {
      throw 'Dklab_Realplexor constructor argument must be fully-qualified URL (scheme://host/...), "' + fullUrl + '" given.';
    }
    // viaDocumentWrite only controlled how the original inserted its
    // iframe; there is no iframe any more. Accept options in its place too.
    if (options === undefined && viaDocumentWrite && typeof viaDocumentWrite === 'object') {
      options = viaDocumentWrite;
    }
    options = options || {};
    var o = {};
    for (var k in DEFAULTS) {
      o[k] = options[k] !== undefined ? options[k] : DEFAULTS[k];
    }

    this._origin = m[1];
    this._waitUri = m[2] || '/';
    this._identifier = String(o.identifier);
    this._waitTimeout = Number(o.waitTimeout);
    this._maxBounces = Number(o.maxBounces);
    this._reconnectDelay = Number(o.reconnectDelay);
    this._debug = !!o.debug;
    this._credentials = o.credentials;

    this._namespace = namespace ? String(namespace) : '';
    this._login = null;
    // id (without prefix) -> { cursor: string|null, callbacks: [fn] }.
    // Null prototype: ids are word characters, and "__proto__" is one.
    this._map = Object.create(null);

    // Every started or cancelled poll bumps _seq; a reply whose poll.seq no
    // longer matches belongs to an aborted request and is ignored.
    this._seq = 0;
    this._controller = null;
    this._timer = null;
    this._watchdog = null;
    this._bounces = 0;
    this._netErrors = 0;
    this._hooked = false;
    this._resume = false;
  }

  var P = Dklab_Realplexor.prototype;

  P.logon = function (login) {
    this._login = login ? String(login) : null;
  };

  P.setCursor = function (id, cursor) {
    this._entry(id).cursor = cursor == null ? null : String(cursor);
    return this;
  };

  P.subscribe = function (id, callback) {
    var cbs = this._entry(id).callbacks;
    if (typeof callback === 'function' && cbs.indexOf(callback) < 0) {
      cbs.push(callback);
    }
    return this;
  };

  P.unsubscribe = function (id, callback) {
    var e = this._map[String(id)];
    if (e) {
      if (callback == null) {
        e.callbacks = [];
      } else {
        var i = e.callbacks.indexOf(callback);
        if (i >= 0) e.callbacks.splice(i, 1);
      }
    }
    return this;
  };

  P.execute = function () {
    this._hookPage();
    this._startPoll();
  };

  P._entry = function (id) {
    id = String(id);
    return this._map[id] || (this._map[id] = { cursor: null, callbacks: [] });
  };

  P._prefix = function () {
    return (this._login ? this._login + '_' : '') + this._namespace;
  };

  // Aborting is silent: the handlers of the aborted poll see a stale seq.
  P._cancel = function () {
    this._seq++;
    if (this._controller) {
      var c = this._controller;
      this._controller = null;
      try { c.abort(); } catch (e) { /* already finished */ }
    }
    if (this._timer) { clearTimeout(this._timer); this._timer = null; }
    if (this._watchdog) { clearTimeout(this._watchdog); this._watchdog = null; }
  };

  P._startPoll = function () {
    this._cancel();
    if (typeof fetch !== 'function' || typeof AbortController !== 'function') {
      this._error('No fetch() / AbortController found!');
      return;
    }
    var prefix = this._prefix();
    var items = [];
    var fresh = [];
    for (var id in this._map) {
      var e = this._map[id];
      if (!e.callbacks.length) continue;
      if (e.cursor != null) {
        items.push(e.cursor + ':' + prefix + id);
      } else {
        items.push(prefix + id);
        fresh.push(id);
      }
    }
    if (!items.length) {
      this._log('No subscriptions: polling stopped until the next execute()');
      return;
    }

    var param = this._identifier + '=' + items.join(',');
    var url = this._origin + this._waitUri;
    var controller = new AbortController();
    var init = { method: 'GET', signal: controller.signal };
    if (this._credentials !== undefined) init.credentials = this._credentials;
    if (param.length + this._waitUri.length < GET_LIMIT) {
      url += (this._waitUri.indexOf('?') < 0 ? '?' : '&') + param + '&ncrnd=' + Date.now();
    } else {
      // The trailing LF terminates the list for the server's marker parser.
      // text/plain keeps this a CORS simple request (no preflight).
      init.method = 'POST';
      init.body = param + '\n';
      init.headers = { 'Content-Type': 'text/plain' };
    }
    this._log('Request: ' + init.method + ' ' + url + (init.body ? '\n' + init.body : ''));

    var self = this;
    var poll = { seq: this._seq, started: Date.now(), prefix: prefix, fresh: fresh, timedOut: false };
    this._controller = controller;
    if (this._waitTimeout > 0) {
      this._watchdog = setTimeout(function () {
        self._watchdog = null;
        poll.timedOut = true;
        controller.abort();
      }, this._waitTimeout * 1000 + WATCHDOG_GRACE);
    }

    fetch(url, init).then(function (resp) {
      if (poll.seq !== self._seq) return null;
      // fetch() resolves as soon as the headers are in, and the server
      // flushes them the moment the poll parks, so the cursor is known long
      // before any data arrives.
      if (resp.ok && resp.headers) {
        self._applyServerCursor(poll, resp.headers.get(CURSOR_HEADER), items);
        self._applyServerTimeout(resp.headers.get(TIMEOUT_HEADER));
      }
      return resp.text().then(function (text) {
        return { status: resp.status, text: text };
      });
    }).then(function (res) {
      if (res && poll.seq === self._seq) self._onResponse(poll, res.status, res.text);
    }, function (err) {
      if (poll.seq !== self._seq) return;
      self._finish();
      if (poll.timedOut) {
        self._fail(poll, new Error('No reply within the wait timeout'), '', 'timeout');
      } else {
        self._fail(poll, err, '', 'network');
      }
    });
  };

  // Fixes the original's cursor gap (R-JS-21): an id polled without a cursor
  // listens from the server's "now", so after a reconnect it would miss what
  // was published in between. The server reports the "now" it used; adopting
  // it makes the next poll resume exactly there. Only ids that were in this
  // poll without a cursor qualify: an id subscribed meanwhile was not
  // listening at that instant.
  //
  // The cursors make the id list longer, and the server refuses a list over
  // its wait_maxlen (5 KiB by default), so ids get the cursor only while the
  // list stays within LIST_BUDGET characters; the rest keep listening from
  // "now", as with the original client.
  P._applyServerCursor = function (poll, value, items) {
    if (value == null) return;
    value = String(value).trim();
    if (!CURSOR_RE.test(value)) return;
    var length = items.join(',').length;
    for (var i = 0; i < poll.fresh.length; i++) {
      if (length + value.length + 1 > LIST_BUDGET) return;
      var e = this._map[poll.fresh[i]];
      if (e && e.cursor == null) {
        e.cursor = value;
        length += value.length + 1;
      }
    }
  };

  // The server reports the timeout it applies to polls (its wait_timeout,
  // possibly clamped). Bounce detection must use it: with a guessed 300 s, a
  // server polling every 60 s would see every quiet poll as a bounce and
  // back off.
  P._applyServerTimeout = function (value) {
    var t = Number(value);
    if (value != null && isFinite(t) && t > 0) this._waitTimeout = t;
  };

  P._finish = function () {
    this._controller = null;
    if (this._watchdog) { clearTimeout(this._watchdog); this._watchdog = null; }
  };

  P._onResponse = function (poll, status, text) {
    this._finish();
    if (status >= 500) {
      this._fail(poll, new Error('HTTP status ' + status), text, 'server');
      return;
    }
    this._netErrors = 0;
    if (status < 200 || status >= 300) {
      // A 4xx will not go away by hammering: back off like a bounce.
      this._bounces++;
      this._error('HTTP status ' + status + ' from the wait server (bounceCount = ' + this._bounces + ')', 'Response:\n' + text);
      this._schedule(poll);
      return;
    }
    // Drops the leading " \r\n" the server sends before the batch.
    var i = text.indexOf('[');
    if (i > 0) text = text.slice(i);
    this._log('Received response:\n' + text);
    var parts;
    try {
      parts = parseResponse(text);
    } catch (e) {
      this._fail(poll, e, text, e === EMPTY ? 'empty' : 'parse');
      return;
    }
    this._bounces = 0;
    this._dispatch(poll, parts);
    this._schedule(poll);
  };

  // kind: 'empty' (wait timeout), 'parse', 'network', 'server' (5xx) or
  // 'timeout' (watchdog). A failure soon after sending is a "bounce" (the
  // server or a proxy refuses us), later it is an ordinary disconnect.
  P._fail = function (poll, err, text, kind) {
    if (Date.now() - poll.started < this._waitTimeout * 1000 / 2) {
      this._bounces++;
      this._log('Bounce detected (bounceCount = ' + this._bounces + ')');
    } else {
      this._log('Disconnect detected');
    }
    if (kind === 'network' || kind === 'server') {
      // Expected while the server restarts: stay quiet unless debugging.
      this._netErrors++;
      this._log('Request failed: ' + errorText(err));
    } else if (kind === 'parse') {
      // Our server rejects publishes that are not valid JSON, so this
      // means a foreign server or proxy garbled the reply. Like the
      // original we drop the whole batch and retry from the same cursors.
      this._error(errorText(err), 'Response:\n' + text);
    }
    this._schedule(poll);
  };

  P._delay = function () {
    var delay = Math.round(this._reconnectDelay * 1000);
    if (this._bounces > this._maxBounces) {
      var p = this._bounces - this._maxBounces + 2;
      delay = Math.min(BOUNCE_DELAY_MAX, 1000 + 500 * p * p);
    }
    if (this._netErrors > 0) {
      // Random extra wait so that all clients of a restarted server do
      // not reconnect in the same instant.
      var backoff = Math.min(BACKOFF_MAX, BACKOFF_MIN * Math.pow(2, this._netErrors - 1));
      delay += Math.floor(Math.random() * backoff);
    }
    return delay;
  };

  P._schedule = function (poll) {
    // A callback may have called execute() already: it then owns the
    // channel, and a second poll would only duplicate it.
    if (poll.seq !== this._seq || this._timer || this._controller) return;
    var delay = this._delay();
    this._log('Next query in ' + delay + ' ms');
    var self = this;
    this._timer = setTimeout(function () {
      self._timer = null;
      self._startPoll();
    }, delay);
  };

  P._dispatch = function (poll, parts) {
    var prefix = poll.prefix;
    for (var n = 0; n < parts.length; n++) {
      var part = parts[n];
      var ids = Object.keys(part.ids);
      for (var k = 0; k < ids.length; k++) {
        var raw = ids[k];
        var id = prefix && raw.indexOf(prefix) === 0 ? raw.slice(prefix.length) : raw;
        var cursor = part.ids[raw] == null ? null : String(part.ids[raw]);
        var e = this._entry(id);
        // Deliberately no "newer than" check: the server is the authority
        // on cursors, and the original moved backwards too.
        e.cursor = cursor;
        var cbs = e.callbacks.slice();
        for (var i = 0; i < cbs.length; i++) {
          // Unsubscribing from inside a callback takes effect at once.
          if (e.callbacks.indexOf(cbs[i]) < 0) continue;
          try {
            cbs[i](part.data, id, cursor);
          } catch (ex) {
            this._error('Error executing callback #' + i + ' for ID ' + id + ': ' + errorText(ex), 'Data:\n' + dataText(part.data), ex);
          }
        }
      }
    }
  };

  // Pages kept in the back/forward cache must not hold a long poll open
  // (browsers refuse to cache them, or the poll would go stale), so pause
  // on pagehide and resume when the page is shown again.
  P._hookPage = function () {
    if (this._hooked || typeof window === 'undefined' || !window.addEventListener) return;
    this._hooked = true;
    var self = this;
    window.addEventListener('pagehide', function () {
      self._resume = !!(self._controller || self._timer);
      self._cancel();
    });
    window.addEventListener('pageshow', function (ev) {
      if (ev.persisted && self._resume) {
        self._resume = false;
        self._startPoll();
      }
    });
  };

  P._log = function (msg) {
    if (this._debug && typeof console !== 'undefined' && console.log) console.log(msg);
  };

  // Real errors are reported even without debug: a swallowed exception in
  // an application callback would be very hard to find otherwise.
  P._error = function (msg, detail, ex) {
    if (typeof console === 'undefined' || !console.error) return;
    var text = detail ? msg + '\n' + detail : msg;
    if (ex !== undefined) console.error(text, ex); else console.error(text);
  };

  // JSON.parse instead of the original's eval(): the reply is data, never
  // code. Validates everything before anything is dispatched, so a bad
  // batch changes no cursor.
  function parseResponse(text) {
    if (/^\s*$/.test(text)) throw EMPTY;
    if (!/^\s*\[[\s\S]*\]\s*$/.test(text)) throw new Error('Response is not a complete JSON');
    var parts = JSON.parse(text);
    if (!Array.isArray(parts)) throw new Error('Response is not a complete JSON');
    for (var i = 0; i < parts.length; i++) {
      var part = parts[i];
      if (!part || typeof part !== 'object' || part.ids == null || typeof part.ids !== 'object') {
        throw new Error('Cannot find "ids" property within the response part');
      }
      if (part.data === undefined) {
        throw new Error('Cannot find "data" property within the response part');
      }
    }
    return parts;
  }

  function errorText(e) {
    return e && typeof e === 'object' && e.message !== undefined ? e.message : String(e);
  }

  function dataText(data) {
    if (typeof data === 'string') return data;
    try { return JSON.stringify(data); } catch (e) { return String(data); }
  }

  if (typeof module === 'object' && module && module.exports) {
    module.exports = Dklab_Realplexor;
  } else {
    root.Dklab_Realplexor = Dklab_Realplexor;
  }
})(typeof globalThis !== 'undefined' ? globalThis : typeof window !== 'undefined' ? window : this);
