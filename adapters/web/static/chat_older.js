// "Load older messages": pages back through GET /api/history?before= (the session cookie
// serves there for reading), prepending above what is shown without moving the view.
(function () {
  "use strict";
  const older = document.getElementById("load-older");
  const list = document.getElementById("messages");
  const view = window.chatView;
  if (!older || !list || !view) return;

  older.addEventListener("click", function () {
    older.disabled = true;
    const query = "limit=" + older.dataset.limit + "&before=" + encodeURIComponent(older.dataset.before);
    fetch("/api/history?" + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) location.href = "/login?next=/chat";
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (data) {
        const height = document.body.scrollHeight;
        const first = list.firstElementChild;
        data.messages.forEach(function (message) {
          const item = view.make(message.role, message.content, message.html);
          (message.images || []).forEach(function (src) {
            const image = document.createElement("img");
            image.className = "attached";
            image.src = src; // GET /api/messages/{id}/images/{n}: the owner's only
            image.alt = "An image you sent";
            item.insertBefore(image, item.lastElementChild);
          });
          list.insertBefore(item, first);
        });
        window.scrollBy(0, document.body.scrollHeight - height);
        if (data.next_before) older.dataset.before = String(data.next_before);
        else older.parentElement.remove();
        older.disabled = false;
        older.textContent = "Load older messages";
      })
      .catch(function () {
        older.disabled = false;
        older.textContent = "Could not load older messages: try again";
      });
  });
})();
