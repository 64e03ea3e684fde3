// Steward's chat page: plain JavaScript, no framework, nothing from a CDN.
//
// Message text is only ever set with textContent, never parsed as HTML, so
// what a person or the LLM writes can never become markup.
//
// Token: when the gateway has a token, open the page as /ui/chat#token=<token>
// (or paste it into the form the page shows after a 401). The token is kept in
// sessionStorage (this tab only), removed from the address bar, and sent as
// "Authorization: Bearer <token>" on every API request. A fragment is never
// sent to the server, so it stays out of request logs and Referer headers.
(function () {
  'use strict';

  var TOKEN_KEY = 'steward.gatewayToken';
  var POLL_MS = 500;
  // A task the queue does not know yet, or a network hiccup, is retried this
  // many times in a row before the page gives up and says so.
  var MAX_RETRIES = 20;

  var el = {
    select: document.getElementById('conversation'),
    newButton: document.getElementById('new-conversation'),
    banner: document.getElementById('banner'),
    bannerText: document.getElementById('banner-text'),
    bannerClose: document.getElementById('banner-close'),
    tokenForm: document.getElementById('token-form'),
    tokenInput: document.getElementById('token-input'),
    log: document.getElementById('log'),
    list: document.getElementById('messages'),
    thinking: document.getElementById('thinking'),
    composer: document.getElementById('composer'),
    input: document.getElementById('input'),
    send: document.getElementById('send')
  };

  var state = {
    conversationId: null, // null until the first message is sent
    memoryToken: '', // the token when sessionStorage is unavailable
    busy: false,
    waiting: 0, // replies being polled for
    generation: 0 // bumped when the shown conversation changes; stale work stops
  };

  // ---- token ---------------------------------------------------------------

  function getToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || '';
    } catch (e) {
      return '';
    }
  }

  function setToken(token) {
    try {
      if (token) {
        sessionStorage.setItem(TOKEN_KEY, token);
      } else {
        sessionStorage.removeItem(TOKEN_KEY);
      }
    } catch (e) {
      // Storage disabled: the token lasts until the page is reloaded.
    }
    state.memoryToken = token;
  }

  function currentToken() {
    return getToken() || state.memoryToken || '';
  }

  // readTokenFromFragment moves #token=... into sessionStorage and removes it
  // from the address bar and the history. It reports whether there was one.
  function readTokenFromFragment() {
    var hash = location.hash.replace(/^#/, '');
    if (!hash) {
      return false;
    }
    var params = new URLSearchParams(hash);
    if (!params.has('token')) {
      return false;
    }
    setToken(params.get('token'));
    params.delete('token');
    var rest = params.toString();
    history.replaceState(null, '', location.pathname + location.search + (rest ? '#' + rest : ''));
    return true;
  }

  function showTokenForm() {
    el.tokenForm.hidden = false;
    el.tokenInput.focus();
  }

  // ---- API -----------------------------------------------------------------

  function ApiError(status, detail) {
    this.status = status;
    this.message = detail;
  }

  async function api(method, path, body) {
    var headers = { 'Accept': 'application/json' };
    var token = currentToken();
    if (token) {
      headers['Authorization'] = 'Bearer ' + token;
    }
    var init = { method: method, headers: headers, cache: 'no-store', credentials: 'same-origin' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    var res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'The gateway cannot be reached');
    }
    var data = null;
    try {
      data = await res.json();
    } catch (e) {
      data = null;
    }
    if (!res.ok) {
      var detail = data && typeof data.detail === 'string' ? data.detail : res.status + ' ' + res.statusText;
      if (res.status === 401) {
        showTokenForm();
        detail = 'The gateway needs its token';
      }
      throw new ApiError(res.status, detail);
    }
    return data;
  }

  function conversationPath(id, rest) {
    return '/api/chat/conversations/' + encodeURIComponent(id) + (rest ? '/' + rest : '');
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  // ---- banner, busy, thinking ---------------------------------------------

  function showError(prefix, err) {
    el.bannerText.textContent = prefix + (err && err.message ? err.message : String(err));
    el.banner.hidden = false;
  }

  function hideBanner() {
    el.banner.hidden = true;
    el.bannerText.textContent = '';
  }

  function setBusy(busy) {
    state.busy = busy;
    el.send.disabled = busy;
  }

  // setThinking counts the replies being waited for (a resumed one and a new
  // one can overlap); "thinking…" shows while there is any. reset clears it.
  function setThinking(on, reset) {
    state.waiting = reset ? 0 : Math.max(0, state.waiting + (on ? 1 : -1));
    el.thinking.hidden = state.waiting === 0;
    if (on) {
      scrollToEnd();
    }
  }

  function scrollToEnd() {
    el.log.scrollTop = el.log.scrollHeight;
  }

  // ---- rendering -----------------------------------------------------------

  // statusLabel names a proposal's state: approved (its action is queued or
  // running), rejected, done or failed (the action's outcome).
  function statusLabel(status) {
    switch (status) {
      case 'approved':
        return 'Approved';
      case 'rejected':
        return 'Cancelled';
      case 'done':
        return 'Approved · done';
      case 'failed':
        return 'Approved · failed';
    }
    status = String(status || '');
    return status.charAt(0).toUpperCase() + status.slice(1);
  }

  function item(className, m) {
    var li = document.createElement('li');
    li.className = className;
    li.dataset.role = m.role || '';
    li.dataset.type = m.type || '';
    return li;
  }

  function proposalCard(m) {
    var md = m.metadata;
    var li = item('proposal', m);
    li.dataset.proposalId = md.proposal_id || '';

    var title = document.createElement('p');
    title.className = 'proposal-title';
    title.textContent = m.content;
    li.appendChild(title);

    if (md.action) {
      var action = document.createElement('p');
      action.className = 'proposal-action';
      action.textContent = md.action;
      li.appendChild(action);
    }

    var params = md.parameters && typeof md.parameters === 'object' ? md.parameters : {};
    var keys = Object.keys(params);
    if (keys.length > 0) {
      var dl = document.createElement('dl');
      keys.forEach(function (k) {
        var dt = document.createElement('dt');
        dt.textContent = k;
        var dd = document.createElement('dd');
        var v = params[k];
        dd.textContent = typeof v === 'string' ? v : JSON.stringify(v);
        dl.appendChild(dt);
        dl.appendChild(dd);
      });
      li.appendChild(dl);
    }

    var options = document.createElement('div');
    options.className = 'proposal-options';
    li.appendChild(options);
    if (md.status === 'pending' || !md.status) {
      (Array.isArray(md.options) ? md.options : []).forEach(function (opt) {
        var b = document.createElement('button');
        b.type = 'button';
        b.className = opt.id === 'reject' ? 'btn btn-ghost' : 'btn';
        b.textContent = opt.label || opt.id;
        b.dataset.option = opt.id;
        b.addEventListener('click', function () {
          respond(md.proposal_id, opt.id, li);
        });
        options.appendChild(b);
      });
    } else {
      markProposal(li, md.status);
    }
    return li;
  }

  // markOutcome shows an approved action's result on its card.
  function markOutcome(m) {
    var md = m && m.metadata;
    if (!md || !md.proposal_id || (md.status !== 'done' && md.status !== 'failed')) {
      return;
    }
    el.list.querySelectorAll('.proposal').forEach(function (card) {
      if (card.dataset.proposalId === md.proposal_id) {
        markProposal(card, md.status);
      }
    });
  }

  // markProposal replaces a card's buttons with its outcome.
  function markProposal(card, status) {
    var options = card.querySelector('.proposal-options');
    var span = document.createElement('span');
    span.className = 'proposal-status';
    span.textContent = statusLabel(status);
    options.replaceChildren(span);
    card.dataset.status = status;
  }

  function messageItem(m) {
    if (m.type === 'confirmation' && m.metadata && typeof m.metadata === 'object') {
      return proposalCard(m);
    }
    var li;
    if (m.role === 'user') {
      li = item('msg msg-user', m);
    } else if (m.role === 'assistant') {
      li = item('msg msg-assistant', m);
    } else {
      li = item('msg msg-system', m);
    }
    li.textContent = m.content;
    return li;
  }

  function removeEmptyNote() {
    var empty = el.list.querySelector('.empty');
    if (empty) {
      empty.remove();
    }
  }

  // appendMessage shows one message; it returns the element (null for the
  // hidden records of a click on a proposal, which the card itself shows).
  function appendMessage(m) {
    if (!m || (m.role === 'user' && m.type === 'response')) {
      return null;
    }
    removeEmptyNote();
    var li = messageItem(m);
    el.list.appendChild(li);
    scrollToEnd();
    return li;
  }

  function render(messages) {
    el.list.replaceChildren();
    // A card whose proposal already has a response shows the outcome even if
    // the stored card still says pending.
    var answered = {};
    messages.forEach(function (m) {
      if (m.role === 'user' && m.type === 'response' && m.metadata && m.metadata.proposal_id) {
        answered[m.metadata.proposal_id] = m.metadata.option === 'reject' ? 'rejected' : 'approved';
      }
    });
    var shown = 0;
    messages.forEach(function (m) {
      var li = appendMessage(m);
      if (!li) {
        return;
      }
      shown++;
      var pid = li.dataset.proposalId;
      if (pid && answered[pid] && !li.dataset.status) {
        markProposal(li, answered[pid]);
      }
    });
    if (shown === 0) {
      var empty = document.createElement('li');
      empty.className = 'empty';
      empty.textContent = 'Start a conversation';
      el.list.appendChild(empty);
    }
    scrollToEnd();
  }

  // ---- conversations -------------------------------------------------------

  function setAddress() {
    var q = state.conversationId ? '?conversation=' + state.conversationId : '';
    history.replaceState(null, '', location.pathname + q);
  }

  async function loadConversations() {
    var data = await api('GET', '/api/chat/conversations');
    var list = data && Array.isArray(data.conversations) ? data.conversations : [];
    var options = [new Option('New conversation', '')];
    var listed = false;
    list.forEach(function (c) {
      var n = c.message_count === 1 ? '1 message' : c.message_count + ' messages';
      options.push(new Option(String(c.id).slice(0, 8) + '… (' + n + ')', c.id));
      listed = listed || c.id === state.conversationId;
    });
    if (state.conversationId && !listed) {
      options.splice(1, 0, new Option('Current conversation', state.conversationId));
    }
    el.select.replaceChildren.apply(el.select, options);
    el.select.value = state.conversationId || '';
  }

  function refreshConversations() {
    loadConversations().catch(function () {
      // The list is a convenience: a failure here is not worth a banner.
    });
  }

  // switchTo shows another conversation (or a new, not yet created one when
  // id is null) and stops any work for the one shown before.
  function switchTo(id) {
    state.generation++;
    state.conversationId = id;
    setBusy(false);
    setThinking(false, true);
    hideBanner();
    setAddress();
  }

  async function openConversation(id) {
    switchTo(id);
    var gen = state.generation;
    el.list.replaceChildren();
    try {
      var data = await api('GET', conversationPath(id, 'history'));
      if (gen === state.generation) {
        render(data.messages || []);
        resume(awaited(data.messages || []), gen);
      }
    } catch (e) {
      if (gen !== state.generation) {
        return;
      }
      if (e.status === 404) {
        startNew();
      }
      showError('Failed to load conversation: ', e);
    }
  }

  // awaited lists the tasks the conversation still waits for: a message that
  // names the task answering it (metadata.reply_task_id: the user's message,
  // or "Processing..." after an approval) while no stored message is that
  // task's output (metadata.task_id) yet.
  function awaited(messages) {
    var produced = {};
    messages.forEach(function (m) {
      if (m.metadata && m.metadata.task_id) {
        produced[m.metadata.task_id] = true;
      }
    });
    var ids = [];
    messages.forEach(function (m) {
      var id = m.metadata && m.metadata.reply_task_id;
      if (id && !produced[id] && ids.indexOf(id) < 0) {
        ids.push(id);
      }
    });
    return ids;
  }

  // resume polls, after a (re)load, the tasks a conversation still waits for,
  // so a reply that was pending when the page was reloaded still appears. The
  // composer stays usable: a reply stuck behind a stopped LLM must not lock
  // the person out of the conversation.
  async function resume(ids, gen) {
    for (var i = 0; i < ids.length && gen === state.generation; i++) {
      await pollTask(ids[i], gen, true);
    }
  }

  // startNew shows an empty conversation. It is created on the server only
  // when the first message is sent, so no empty conversations pile up.
  function startNew() {
    switchTo(null);
    render([]);
    el.select.value = '';
    el.input.focus();
  }

  // ---- sending, polling, proposals -----------------------------------------

  async function send() {
    var text = el.input.value.trim();
    if (!text || state.busy) {
      return;
    }
    hideBanner();
    setBusy(true);
    var gen = state.generation;
    var shown = null;
    try {
      if (!state.conversationId) {
        var created = await api('POST', '/api/chat/conversations');
        if (gen !== state.generation) {
          return;
        }
        state.conversationId = created.conversation_id;
        setAddress();
      }
      var cid = state.conversationId;
      shown = appendMessage({
        role: 'user',
        type: text.charAt(0) === '/' ? 'command' : 'chat',
        content: text,
        timestamp: new Date().toISOString(),
        metadata: null
      });
      el.input.value = '';
      autosize();
      var res = await api('POST', conversationPath(cid, 'messages'), { content: text });
      shown = null; // stored now
      if (gen !== state.generation) {
        return;
      }
      if (res.type === 'command') {
        // Only the exact command /clear clears (commands are case-sensitive).
        if (text.split(/\s+/)[0] === '/clear') {
          render([res.message]);
        } else {
          appendMessage(res.message);
        }
        refreshConversations();
      } else if (res.task_id) {
        await pollTask(res.task_id, gen);
      }
    } catch (e) {
      if (gen !== state.generation) {
        return;
      }
      if (shown) {
        // Not stored: take the bubble back and give the text back to edit.
        shown.remove();
        if (!el.input.value) {
          el.input.value = text;
          autosize();
        }
        if (!el.list.children.length) {
          render([]);
        }
      }
      showError('Failed to send message: ', e);
    } finally {
      if (gen === state.generation) {
        setBusy(false);
      }
    }
  }

  // pollTask polls a task every POLL_MS until it is done or failed, then shows
  // the messages it produced, updates the card of an approved action, and
  // returns the status ('' when it gave up or another conversation is shown).
  // A resumed task (one found in the history) that the queue does not know is
  // not waited for: it was never queued, or its record has expired.
  async function pollTask(taskId, gen, resumed) {
    setThinking(true);
    var retries = 0;
    try {
      for (;;) {
        if (gen !== state.generation) {
          return '';
        }
        var r;
        try {
          r = await api('GET', '/api/chat/tasks/' + encodeURIComponent(taskId));
          retries = 0;
        } catch (e) {
          if (resumed && e.status === 404) {
            return '';
          }
          if ((e.status === 404 || e.status === 0 || e.status === 503) && ++retries < MAX_RETRIES) {
            await sleep(POLL_MS);
            continue;
          }
          if (gen === state.generation) {
            showError('Failed to get response: ', e);
          }
          return '';
        }
        if (gen !== state.generation) {
          return '';
        }
        if (r.status === 'done' || r.status === 'failed') {
          (r.messages || []).forEach(function (m) {
            appendMessage(m);
            markOutcome(m);
          });
          refreshConversations();
          return r.status;
        }
        await sleep(POLL_MS);
      }
    } finally {
      if (gen === state.generation) {
        setThinking(false);
      }
    }
  }

  async function respond(proposalId, option, card) {
    if (state.busy || !state.conversationId) {
      return;
    }
    hideBanner();
    setBusy(true);
    var gen = state.generation;
    var buttons = card.querySelectorAll('button');
    buttons.forEach(function (b) { b.disabled = true; });
    try {
      var res = await api('POST',
        conversationPath(state.conversationId, 'proposals/' + encodeURIComponent(proposalId)),
        { option: option });
      if (gen !== state.generation) {
        return;
      }
      markProposal(card, option === 'reject' ? 'rejected' : 'approved');
      appendMessage(res.message);
      if (res.task_id) {
        var outcome = await pollTask(res.task_id, gen);
        if (outcome && gen === state.generation) {
          markProposal(card, outcome);
        }
      }
    } catch (e) {
      if (gen !== state.generation) {
        return;
      }
      buttons.forEach(function (b) { b.disabled = false; });
      showError('Failed to respond to proposal: ', e);
    } finally {
      if (gen === state.generation) {
        setBusy(false);
      }
    }
  }

  // ---- wiring --------------------------------------------------------------

  function autosize() {
    el.input.style.height = 'auto';
    el.input.style.height = Math.min(el.input.scrollHeight, 160) + 'px';
  }

  function start() {
    var params = new URLSearchParams(location.search);
    var id = params.get('conversation');
    if (id && /^[0-9a-f]{16}$/.test(id)) {
      openConversation(id);
    } else {
      startNew();
    }
    loadConversations().catch(function (e) {
      if (e.status !== 401) {
        showError('Failed to load conversations: ', e);
      }
    });
  }

  readTokenFromFragment();

  el.composer.addEventListener('submit', function (ev) {
    ev.preventDefault();
    send();
  });
  el.input.addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      send();
    }
  });
  el.input.addEventListener('input', autosize);
  el.select.addEventListener('change', function () {
    if (el.select.value) {
      openConversation(el.select.value);
    } else {
      startNew();
    }
  });
  el.newButton.addEventListener('click', startNew);
  el.bannerClose.addEventListener('click', hideBanner);
  // A token added to the address of the open page does not reload it.
  window.addEventListener('hashchange', function () {
    if (readTokenFromFragment()) {
      el.tokenForm.hidden = true;
      start();
    }
  });
  el.tokenForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var token = el.tokenInput.value.trim();
    el.tokenInput.value = '';
    if (!token) {
      return;
    }
    setToken(token);
    el.tokenForm.hidden = true;
    hideBanner();
    start();
  });

  start();
}());
