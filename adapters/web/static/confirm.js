// Destructive forms (data-confirm) ask before they post; without JavaScript they post directly.
document.addEventListener("submit", function (event) {
  "use strict";
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
  if (question && !window.confirm(question)) event.preventDefault();
});
