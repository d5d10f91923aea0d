// Files on the chat page: an attach button, pasted and dropped files, and a record button
// (MediaRecorder) for voice. Files are uploaded first (POST /api/uploads, with the page's CSRF
// token); the message then goes over the WebSocket naming their ids, through chat.js's queue
// (window.chatlinkQueue). The server checks every byte; the size check here only saves a
// pointless upload.
(function () {
  "use strict";
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const actions = form && form.querySelector(".chat-actions");
  const view = window.chatView; // the page's bubbles (chat_view.js)
  if (!form || !actions || !view) return;
  if (!("WebSocket" in window) || !window.fetch || !window.FormData) return;

  const maxFile = Number(form.dataset.maxFile || 0);
  const csrf = (form.querySelector("input[name=csrf_token]") || {}).value || "";
  const accept = "image/*,audio/*,.txt,.md,.csv,.json,.pdf,.py,.js,.ts,.html,.css,.xml,.yaml,.yml,.toml";
  let pending = []; // files chosen, not sent yet
  let recorder = null;

  function button(text, label) {
    const made = document.createElement("button");
    made.type = "button";
    made.className = "secondary";
    made.textContent = text;
    made.setAttribute("aria-label", label);
    return made;
  }

  const picker = document.createElement("input");
  picker.type = "file";
  picker.multiple = true;
  picker.accept = accept;
  picker.id = "attach-input";
  picker.className = "sr-only";
  picker.tabIndex = -1;
  picker.setAttribute("aria-hidden", "true");
  const attach = button("Attach", "Attach files: images, voice notes, documents");
  attach.id = "attach";
  const record = button("Record", "Record a voice message");
  record.id = "record";
  if (!window.MediaRecorder || !navigator.mediaDevices) record.hidden = true;
  const tray = document.createElement("ul");
  tray.id = "attachments";
  tray.className = "attachments";
  tray.setAttribute("aria-label", "Files to send");
  const send = document.getElementById("send");
  if (send) send.after(attach, record);
  else actions.prepend(attach, record);
  actions.appendChild(picker);
  form.insertBefore(tray, actions);

  function notice(text) {
    view.add("notice", text);
  }

  function refresh() {
    tray.textContent = "";
    pending.forEach(function (file, index) {
      const entry = document.createElement("li");
      entry.textContent = file.name + " ";
      const remove = button("×", "Remove " + file.name);
      remove.addEventListener("click", function () {
        pending.splice(index, 1);
        refresh();
      });
      entry.appendChild(remove);
      tray.appendChild(entry);
    });
    input.required = !pending.length; // files alone are a message
  }

  function add(files) {
    Array.prototype.forEach.call(files, function (file) {
      if (maxFile && file.size > maxFile) {
        notice(file.name + " is too large: files may be at most " + Math.floor(maxFile / 1048576) + " MB.");
        return;
      }
      pending.push(file);
    });
    refresh();
  }

  attach.addEventListener("click", function () {
    picker.click();
  });
  picker.addEventListener("change", function () {
    add(picker.files);
    picker.value = "";
  });
  input.addEventListener("paste", function (event) {
    const files = event.clipboardData && event.clipboardData.files;
    if (files && files.length) {
      event.preventDefault();
      add(files);
    }
  });
  form.addEventListener("dragover", function (event) {
    event.preventDefault();
    form.classList.add("dropping");
  });
  form.addEventListener("dragleave", function () {
    form.classList.remove("dropping");
  });
  form.addEventListener("drop", function (event) {
    event.preventDefault();
    form.classList.remove("dropping");
    if (event.dataTransfer) add(event.dataTransfer.files);
  });

  record.addEventListener("click", function () {
    if (recorder) {
      recorder.stop();
      return;
    }
    navigator.mediaDevices
      .getUserMedia({ audio: true })
      .then(function (stream) {
        const chunks = [];
        recorder = new MediaRecorder(stream);
        recorder.addEventListener("dataavailable", function (event) {
          if (event.data.size) chunks.push(event.data);
        });
        recorder.addEventListener("stop", function () {
          stream.getTracks().forEach(function (track) {
            track.stop();
          });
          const type = (recorder.mimeType || "audio/webm").split(";")[0];
          const ending = type.indexOf("ogg") >= 0 ? "ogg" : type.indexOf("mp4") >= 0 ? "m4a" : "webm";
          recorder = null;
          record.textContent = "Record";
          record.setAttribute("aria-label", "Record a voice message");
          add([new File(chunks, "voice." + ending, { type: type })]);
        });
        recorder.start();
        record.textContent = "Stop recording";
        record.setAttribute("aria-label", "Stop recording and attach the voice message");
      })
      .catch(function () {
        notice("The microphone is not available to this page.");
      });
  });

  function preview(item, file) {
    if (file.type.indexOf("image/") !== 0) {
      const label = document.createElement("span");
      label.className = "file";
      label.textContent = "📎 " + file.name;
      item.insertBefore(label, item.lastElementChild);
      return;
    }
    const image = document.createElement("img");
    image.className = "attached";
    image.alt = "An image you sent";
    item.insertBefore(image, item.lastElementChild);
    const reader = new FileReader(); // a data: URL: the page's CSP allows no blob: images
    reader.addEventListener("load", function () {
      image.src = String(reader.result);
    });
    reader.readAsDataURL(file);
  }

  function upload(file) {
    const body = new FormData();
    body.append("file", file, file.name);
    return fetch("/api/uploads", {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf },
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data.detail || "The upload failed.");
        return data.id;
      });
    });
  }

  // Before chat.js's own submit handler: a message with files is sent from here.
  form.addEventListener(
    "submit",
    function (event) {
      if (!pending.length || typeof window.chatlinkQueue !== "function") return;
      event.preventDefault();
      event.stopImmediatePropagation();
      const files = pending;
      const text = input.value;
      pending = [];
      refresh();
      input.value = "";
      const item = view.add("user", text);
      files.forEach(function (file) {
        preview(item, file);
      });
      view.scrollToEnd();
      Promise.all(files.map(upload))
        .then(function (ids) {
          window.chatlinkQueue(text, ids, item);
        })
        .catch(function (error) {
          item.classList.add("failed");
          notice(error.message);
        });
    },
    true
  );
})();
