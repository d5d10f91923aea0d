// Live chat over WS /api/ws (authenticated by the session cookie); the form still posts without it.
// Each message goes with an id, one at a time, in order; replies stream in chunks (shown as text)
// and end with "reply" frames carrying the same id (Markdown ones with the server's `html`).
// If the server goes away the page says so, reconnects with backoff and sends again what was not
// answered; the server answers a resent id once (adapters/web/resends.py).
(function () {
  "use strict";
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const list = document.getElementById("messages");
  const typing = document.getElementById("typing");
  const stop = document.getElementById("stop");
  const counter = document.getElementById("chat-counter");
  const announcer = document.getElementById("announcer");
  const connection = document.getElementById("connection");
  const view = window.chatView;
  if (!form || !view || !("WebSocket" in window)) return;

  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const max = Number(form.dataset.max || 0);
  let socket = null;
  let timer = null; // the next reconnection attempt
  let retryIn = 500;
  let pending = null; // the <li> the streamed reply goes into
  const waiting = []; // {id, text, item, sent}: typed and not answered yet, in order
  const finished = new Set(); // ids answered: a reply sent twice (after a resend) shows once

  function newId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  function working(on) {
    typing.hidden = !on || Boolean(pending);
    stop.hidden = !on;
    if (on) stop.disabled = false;
  }

  function show(state) {
    connection.hidden = !state;
    connection.textContent = state || "";
    list.dataset.connected = state ? "false" : "true";
  }

  function sendNext() {
    // One message at a time: the next goes once the last is answered, so none is lost.
    if (!socket || socket.readyState !== WebSocket.OPEN || !waiting.length) return;
    const next = waiting[0];
    if (next.sent) return;
    next.sent = true;
    next.item.classList.remove("unsent", "failed");
    const frame = { message: next.text, id: next.id };
    if (next.files) frame.files = next.files; // uploaded by attach.js
    socket.send(JSON.stringify(frame));
    working(true);
  }

  function queue(text, item, files) {
    // `files`: ids of uploads (POST /api/uploads, by attach.js) that go with the message.
    const entry = { id: newId(), text: text, item: item, files: files, sent: false };
    waiting.push(entry);
    sendNext();
    if (!entry.sent && !socket) item.classList.add("unsent"); // goes once the server is back
    if (!socket && !timer) connect();
  }

  function failed(entry) {
    // Not answered: the person decides whether to send it again.
    entry.item.classList.add("failed");
    if (entry.item.querySelector(".retry")) return;
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "retry secondary";
    retry.textContent = "Retry";
    retry.setAttribute("aria-label", "Send this message again");
    retry.addEventListener("click", function () {
      retry.remove();
      again(entry);
    });
    entry.item.appendChild(retry);
  }

  function again(entry) {
    // Kept but not answered (the model failed after the message was stored)? Then /retry
    // writes the reply, rather than the message going into the history twice.
    fetch("/api/history?limit=1", { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : { messages: [] }; })
      .catch(function () { return { messages: [] }; })
      .then(function (data) {
        const last = data.messages[data.messages.length - 1];
        const kept = last && last.role === "user" && last.content === entry.text.trim();
        queue(kept ? "/retry" : entry.text, entry.item, kept ? undefined : entry.files);
      });
  }

  function entryFor(id) {
    return waiting.find(function (entry) { return entry.id === id; }) || null;
  }

  function finish(entry) {
    if (entry && waiting.indexOf(entry) >= 0) {
      waiting.splice(waiting.indexOf(entry), 1);
      finished.add(entry.id);
    }
    pending = null;
    working(waiting.length > 0 && waiting[0].sent);
    sendNext();
  }

  function replied(data) {
    if (data.id && finished.has(data.id)) return; // answered already (a resend's second answer)
    const entry = entryFor(data.id);
    const role = data.kind === "model" ? "assistant" : "notice";
    if (pending) pending.remove();
    pending = null;
    view.add(role, data.text, data.html);
    announcer.textContent = data.text; // only the finished reply is read out
    list.dataset.replies = String(Number(list.dataset.replies || 0) + 1);
    // Refused (a limit) or failed (the model, the database): offered again, not lost.
    if (entry && (data.kind === "error" || data.kind === "rejected")) failed(entry);
    if (data.last !== false) finish(entry);
  }

  function received(event) {
    const data = JSON.parse(event.data);
    if (data.type === "chunk") {
      if (!pending) {
        pending = view.add("assistant", "");
        pending.setAttribute("aria-busy", "true");
        typing.hidden = true;
      }
      pending.lastElementChild.textContent += data.text;
      view.scrollToEnd();
    } else if (data.type === "reply") {
      replied(data);
    } else if (data.type === "done") {
      finish(entryFor(data.id));
    } else if (data.type === "stopped") {
      // Only the acknowledgement: the stopped message's own reply frame says so and ends it.
      stop.disabled = data.stopped === true;
    } else if (data.type === "error") {
      view.add("notice", data.detail);
      const entry = entryFor(data.id) || (waiting.length && waiting[0].sent ? waiting[0] : null);
      if (entry) {
        failed(entry);
        finish(entry);
      }
    }
  }

  function connect() {
    timer = null;
    socket = new WebSocket(scheme + "//" + location.host + "/api/ws");
    socket.addEventListener("open", function () {
      retryIn = 500;
      show("");
      sendNext();
    });
    socket.addEventListener("message", received);
    socket.addEventListener("close", function (event) {
      socket = null;
      if (event.code === 1008) {
        location.href = "/login?next=/chat";
        return;
      }
      // What was sent and not answered goes again, with its id, once the server is back.
      waiting.forEach(function (entry) {
        entry.sent = false;
        entry.item.classList.add("unsent");
      });
      if (pending) pending.remove();
      pending = null;
      working(false);
      show("Connection lost. Reconnecting…");
      timer = setTimeout(connect, retryIn);
      retryIn = Math.min(retryIn * 2, 15000);
    });
  }

  // attach.js sends files (already uploaded: their ids) through the same queue.
  window.chatlinkQueue = function (text, files, item) {
    queue(text, item, files);
  };

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value;
    if (!text.trim() || (max && text.length > max)) return;
    const item = view.add("user", text);
    input.value = "";
    count();
    queue(text, item);
  });

  stop.addEventListener("click", function () {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "stop" }));
  });

  function count() {
    const left = max - input.value.length;
    const near = max > 0 && left < Math.max(100, max / 10);
    counter.textContent = near ? left + " characters left" : "";
    counter.classList.toggle("over", near && left <= 0);
  }

  input.addEventListener("input", count);
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  window.addEventListener("online", function () {
    if (timer) {
      clearTimeout(timer);
      connect();
    }
  });

  // The page's own Stop (beside Send, while a reply streams) stands in for the form's.
  document.querySelectorAll(".stop-form").forEach(function (f) { f.hidden = true; });
  list.querySelectorAll(".rich").forEach(view.decorate);
  view.scrollToEnd();
  connect();
})();
