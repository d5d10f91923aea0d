// Live chat over WS /api/ws (authenticated by the session cookie); the form still posts without it.
(function () {
  "use strict";
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const list = document.getElementById("messages");
  if (!form || !("WebSocket" in window)) return;

  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  let socket = null;
  let pending = null; // the <li> the streamed reply goes into
  const queue = [];

  function add(role, text) {
    const item = document.createElement("li");
    item.className = role;
    item.textContent = text;
    list.appendChild(item);
    item.scrollIntoView({ block: "end" });
    return item;
  }

  function connect() {
    socket = new WebSocket(scheme + "//" + location.host + "/api/ws");
    socket.addEventListener("open", function () {
      while (queue.length) socket.send(queue.shift());
    });
    socket.addEventListener("message", function (event) {
      const data = JSON.parse(event.data);
      if (data.type === "chunk") {
        if (!pending) pending = add("assistant", "");
        pending.textContent += data.text;
        pending.scrollIntoView({ block: "end" });
      } else if (data.type === "reply") {
        const role = data.kind === "model" ? "assistant" : "notice";
        if (pending && role === "assistant") pending.textContent = data.text;
        else {
          if (pending) pending.remove();
          add(role, data.text);
        }
        pending = null;
        list.dataset.replies = String(Number(list.dataset.replies || 0) + 1);
      } else if (data.type === "error") {
        add("notice", data.detail);
      }
    });
    socket.addEventListener("close", function (event) {
      socket = null;
      if (event.code === 1008) location.href = "/login?next=/chat";
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    add("user", text);
    input.value = "";
    const frame = JSON.stringify({ message: text });
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(frame);
    else {
      queue.push(frame);
      if (!socket) connect();
    }
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  connect();
})();
