// Live chat over WS /api/ws (authenticated by the session cookie); the form still posts without it.
// Replies arrive as chunks (shown as text while they stream) and end with one "reply" frame whose
// `html` the server rendered and sanitised (bot/rendering): that is the only HTML inserted here.
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
  if (!form || !("WebSocket" in window)) return;

  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const max = Number(form.dataset.max || 0);
  let socket = null;
  let pending = null; // the <li> the streamed reply goes into
  let waiting = []; // messages sent (or to send) and not answered yet, in order
  let retryIn = 500;

  function scrollToEnd() {
    const last = list.lastElementChild;
    if (last) last.scrollIntoView({ block: "end" });
    window.scrollTo(0, document.body.scrollHeight);
  }

  function bubble(role) {
    const item = document.createElement("li");
    item.className = role;
    item.dir = "auto"; // the sender is named for screen readers by the stylesheet (::before)
    list.appendChild(item);
    return item;
  }

  function add(role, text) {
    const item = bubble(role);
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    item.appendChild(body);
    scrollToEnd();
    return item;
  }

  function decorate(root) {
    // A label with the language and a copy button on every code block.
    root.querySelectorAll("pre > code").forEach(function (code) {
      const pre = code.parentElement;
      const bar = document.createElement("div");
      bar.className = "code-bar";
      const language = (code.className.match(/language-([\w+#.-]+)/) || [])[1];
      const name = document.createElement("span");
      name.textContent = language || "code";
      const copy = document.createElement("button");
      copy.type = "button";
      copy.className = "copy secondary";
      copy.textContent = "Copy";
      copy.setAttribute("aria-label", "Copy " + (language || "code"));
      copy.addEventListener("click", function () {
        if (navigator.clipboard) navigator.clipboard.writeText(code.textContent || "");
        copy.textContent = "Copied";
      });
      bar.append(name, copy);
      pre.parentElement.insertBefore(bar, pre);
    });
  }

  function working(on) {
    typing.hidden = !on || Boolean(pending);
    stop.hidden = !on;
    if (on) stop.disabled = false;
  }

  function show(state) {
    connection.hidden = !state;
    connection.textContent = state || "";
  }

  function sendNext() {
    // One message at a time: the next goes once the last is answered, so none is lost.
    if (!socket || socket.readyState !== WebSocket.OPEN || !waiting.length) return;
    const next = waiting[0];
    if (next.sent) return;
    next.sent = true;
    next.item.classList.remove("failed");
    const frame = { message: next.text };
    if (next.files) frame.files = next.files; // uploaded by attach.js
    socket.send(JSON.stringify(frame));
    working(true);
  }

  function failed(entry) {
    // Not stored: the person decides whether to send it again.
    entry.item.classList.add("failed");
    if (entry.item.querySelector(".retry")) return;
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "retry secondary";
    retry.textContent = "Retry";
    retry.setAttribute("aria-label", "Send this message again");
    retry.addEventListener("click", function () {
      retry.remove();
      waiting.push({ text: entry.text, files: entry.files, item: entry.item, sent: false });
      sendNext();
    });
    entry.item.appendChild(retry);
  }

  function answered() {
    waiting.shift();
    pending = null;
    working(false);
    sendNext();
  }

  function connect() {
    socket = new WebSocket(scheme + "//" + location.host + "/api/ws");
    socket.addEventListener("open", function () {
      retryIn = 500;
      show("");
      list.dataset.connected = "true";
      sendNext();
    });
    socket.addEventListener("message", function (event) {
      const data = JSON.parse(event.data);
      if (data.type === "chunk") {
        if (!pending) {
          pending = add("assistant", "");
          pending.setAttribute("aria-busy", "true");
          typing.hidden = true;
        }
        pending.lastElementChild.textContent += data.text;
        scrollToEnd();
      } else if (data.type === "reply") {
        const role = data.kind === "model" ? "assistant" : "notice";
        if (pending) pending.remove();
        const item = role === "assistant" && data.html ? bubble(role) : add(role, data.text);
        if (role === "assistant" && data.html) {
          const rich = document.createElement("div");
          rich.className = "rich";
          rich.innerHTML = data.html; // sanitised by the server's one HTML path
          item.appendChild(rich);
          decorate(rich);
        }
        announcer.textContent = data.text; // only the finished reply is read out
        list.dataset.replies = String(Number(list.dataset.replies || 0) + 1);
        scrollToEnd();
        answered();
      } else if (data.type === "stopped") {
        // Only the acknowledgement: the stopped message's own reply frame says so and ends it.
        stop.disabled = data.stopped === true;
      } else if (data.type === "error") {
        add("notice", data.detail);
        if (waiting.length && waiting[0].sent) {
          failed(waiting[0]);
          answered();
        }
      }
    });
    socket.addEventListener("close", function (event) {
      socket = null;
      list.dataset.connected = "false";
      if (event.code === 1008) {
        location.href = "/login?next=/chat";
        return;
      }
      // What was sent and not answered goes again once the server is back.
      waiting.forEach(function (entry) {
        entry.sent = false;
        entry.item.classList.add("failed");
      });
      if (pending) pending.remove();
      pending = null;
      working(false);
      show("Reconnecting…");
      setTimeout(connect, retryIn);
      retryIn = Math.min(retryIn * 2, 15000);
    });
  }

  // attach.js sends files (already uploaded: their ids) through the same queue.
  window.chatlinkQueue = function (text, files, item) {
    waiting.push({ text: text, files: files, item: item, sent: false });
    sendNext();
    if (!socket) connect();
  };

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value;
    if (!text.trim() || (max && text.length > max)) return;
    const item = add("user", text);
    input.value = "";
    count();
    waiting.push({ text: text, item: item, sent: false });
    sendNext();
    if (!socket) connect();
  });

  stop.addEventListener("click", function () {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "stop" }));
  });

  function count() {
    const left = max - input.value.length;
    const near = max && left < Math.max(100, max / 10);
    counter.textContent = near ? left + " characters left" : "";
    counter.classList.toggle("over", near && left < 0);
  }

  input.addEventListener("input", count);
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  const older = document.getElementById("load-older");
  if (older) {
    older.addEventListener("click", function () {
      older.disabled = true;
      fetch("/chat/history?before=" + encodeURIComponent(older.dataset.before), {
        credentials: "same-origin",
      })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.json();
        })
        .then(function (data) {
          // Prepended above what is shown, the view staying where the reader is.
          const height = document.body.scrollHeight;
          const first = list.firstElementChild;
          data.messages.forEach(function (message) {
            const item = document.createElement("li");
            item.className = message.role;
            item.dir = "auto";
            const body = document.createElement(message.html ? "div" : "span");
            body.className = message.html ? "rich" : "text";
            if (message.html) body.innerHTML = message.html; // sanitised by the server
            else body.textContent = message.content;
            (message.images || []).forEach(function (src) {
              const image = document.createElement("img");
              image.className = "attached";
              image.src = src;
              image.alt = "An image you sent";
              item.appendChild(image);
            });
            item.appendChild(body);
            if (message.html) decorate(body);
            list.insertBefore(item, first);
          });
          window.scrollBy(0, document.body.scrollHeight - height);
          if (data.next_before) older.dataset.before = String(data.next_before);
          else older.parentElement.remove();
          older.disabled = false;
        })
        .catch(function () {
          older.disabled = false;
          older.textContent = "Could not load older messages: try again";
        });
    });
  }

  list.querySelectorAll(".rich").forEach(decorate);
  scrollToEnd();
  connect();
})();
