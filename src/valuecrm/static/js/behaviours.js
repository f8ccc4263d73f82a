// Small behaviours that used to be inline handlers (onclick, onchange, hx-on). The
// Content-Security-Policy allows scripts only from our static files, so markup asks for a
// behaviour with a data attribute and this file supplies it. Delegated listeners: they
// also work for fragments htmx swaps in later.
(function () {
  "use strict";

  // <select data-vc-autosubmit>: submit its form when the choice changes.
  document.addEventListener("change", function (event) {
    var field = event.target.closest ? event.target.closest("[data-vc-autosubmit]") : null;
    if (field && field.form) {
      if (field.form.requestSubmit) field.form.requestSubmit();
      else field.form.submit();
    }
  });

  // Escape inside an edit cell presses its Cancel (<a data-vc-escape-cancels hx-trigger=
  // "click, vc-escape">): an htmx key filter (keyup[key=='Escape']) would need eval.
  document.addEventListener("keyup", function (event) {
    if (event.key !== "Escape" || !event.target.closest || !window.htmx) return;
    var cell = event.target.closest("td, section, form");
    var cancel = cell ? cell.querySelector("[data-vc-escape-cancels]") : null;
    if (cancel) window.htmx.trigger(cancel, "vc-escape");
  });

  // <form data-vc-reset-on-success hx-post=…>: after a successful htmx request the form is
  // emptied and its error marks cleared, ready for the next entry.
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail && event.detail.elt;
    if (!form || !event.detail.successful || !form.matches || !form.matches("form[data-vc-reset-on-success]")) return;
    form.reset();
    form.querySelectorAll(".invalid-feedback").forEach(function (el) { el.remove(); });
    form.querySelectorAll(".is-invalid").forEach(function (el) { el.classList.remove("is-invalid"); });
  });
  // <a data-vc-history-back href="/">: back to the previous page when there is one (the
  // href is where it goes without history or without script).
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-vc-history-back]") : null;
    if (link && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
    }
  });
})();
