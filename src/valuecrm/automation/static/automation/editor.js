// Rule editor: show the trigger's own fields, the chosen action's settings, and more slots on demand.
(function () {
  var form = document.getElementById("rule-form");
  if (!form) return;
  var kind = form.querySelector("[data-vc-trigger-kind]");
  function showTrigger() {
    form.querySelectorAll("[data-vc-when]").forEach(function (el) {
      el.hidden = el.getAttribute("data-vc-when") !== kind.value;
    });
  }
  kind.addEventListener("change", showTrigger);
  showTrigger();
  form.addEventListener("change", function (event) {
    var select = event.target.closest("[data-vc-action-type]");
    if (!select) return;
    var slot = select.closest("[data-vc-slot]");
    slot.querySelectorAll("[data-vc-params]").forEach(function (el) {
      el.hidden = el.getAttribute("data-vc-params") !== select.value;
    });
  });
  form.querySelectorAll("[data-vc-add]").forEach(function (button) {
    button.addEventListener("click", function () {
      var hidden = form.querySelector("[data-vc-slot='" + button.getAttribute("data-vc-add") + "'][hidden]");
      if (hidden) hidden.hidden = false;
      if (!form.querySelector("[data-vc-slot='" + button.getAttribute("data-vc-add") + "'][hidden]")) button.hidden = true;
    });
  });
  // Settings of the action types not chosen in a slot are not sent.
  form.addEventListener("submit", function () {
    form.querySelectorAll("[data-vc-params][hidden] [name]").forEach(function (el) { el.disabled = true; });
  });
  document.body.addEventListener("htmx:configRequest", function (event) {
    // hx-post from the dry-run button sends only the visible action settings too.
    form.querySelectorAll("[data-vc-params][hidden] [name]").forEach(function (el) {
      delete event.detail.parameters[el.name];
    });
  });
})();
