// The chat page's bubbles: who said it, its text or the server's sanitised HTML (the only HTML
// inserted, from bot/rendering), and a language label and Copy button on each code block.
window.chatView = (function () {
  "use strict";
  const list = document.getElementById("messages");

  function scrollToEnd() {
    const last = list && list.lastElementChild;
    if (last) last.scrollIntoView({ block: "end" });
    window.scrollTo(0, document.body.scrollHeight);
  }

  function copyButton(code, language) {
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "copy secondary";
    copy.textContent = "Copy";
    copy.setAttribute("aria-label", "Copy " + language);
    function said(label) {
      copy.textContent = label;
      setTimeout(function () { copy.textContent = "Copy"; }, 2000);
    }
    copy.addEventListener("click", function () {
      if (!navigator.clipboard) return said("Copy failed");
      navigator.clipboard.writeText(code.textContent || "").then(
        function () { said("Copied"); },
        function () { said("Copy failed"); }
      );
    });
    return copy;
  }

  function decorate(root) {
    // Code and tables may scroll sideways: reachable with the keyboard too.
    root.querySelectorAll("pre, table").forEach(function (block) { block.tabIndex = 0; });
    root.querySelectorAll("pre > code").forEach(function (code) {
      const pre = code.parentElement;
      if (pre.previousElementSibling && pre.previousElementSibling.className === "code-bar") return;
      const language = (code.className.match(/language-([\w+#.-]+)/) || [])[1] || "code";
      const bar = document.createElement("div");
      bar.className = "code-bar";
      const name = document.createElement("span");
      name.textContent = language;
      bar.append(name, copyButton(code, language));
      pre.parentElement.insertBefore(bar, pre);
    });
  }

  // A bubble not yet in the list: `html` (from the server) when it has it, else plain text.
  function make(role, text, html) {
    const item = document.createElement("li");
    item.className = role;
    item.dir = "auto"; // the sender is named for screen readers by the stylesheet (::before)
    const body = document.createElement(html ? "div" : "span");
    body.className = html ? "rich" : "text";
    if (html) body.innerHTML = html; // sanitised by the server's one HTML path
    else body.textContent = text;
    item.appendChild(body);
    if (html) decorate(body);
    return item;
  }

  function add(role, text, html) {
    const item = make(role, text, html);
    list.appendChild(item);
    scrollToEnd();
    return item;
  }

  return { add: add, decorate: decorate, make: make, scrollToEnd: scrollToEnd };
})();
