/* ValueCRM page behaviour: theme switch, active nav entry, Ctrl/Cmd+K palette, list helpers.
 * Plain scripts (no build step); htmx and Alpine handle the rest declaratively. */
(function () {
  "use strict";

  const isMac = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);

  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  /* ---- theme: apply at once, remember on the server in the background ---- */
  function initTheme() {
    document.querySelectorAll("form[data-vc-theme-form]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        const root = document.documentElement;
        const next = root.getAttribute("data-bs-theme") === "dark" ? "light" : "dark";
        root.setAttribute("data-bs-theme", next);
        const body = new FormData(form);
        body.set("theme", next);
        form.querySelector("input[name=theme]").value = next === "dark" ? "light" : "dark";
        fetch(form.action, {
          method: "POST",
          body: body,
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken() },
          redirect: "manual",
        }).catch(function () { /* the page already switched; the next load will retry */ });
        document.dispatchEvent(new CustomEvent("vc:theme", { detail: { theme: next } }));
      });
    });
  }

  /* ---- sidebar: mark the entry whose URL is the longest prefix of this page ---- */
  function initNav() {
    const path = window.location.pathname;
    let best = null;
    let bestLength = 0;
    document.querySelectorAll("[data-vc-nav] a.vc-nav-link").forEach(function (link) {
      const href = new URL(link.href, window.location.href).pathname;
      const matches = href === "/" ? path === "/" : path === href || path.startsWith(href.replace(/\/?$/, "/"));
      if (matches && href.length > bestLength) {
        best = link;
        bestLength = href.length;
      }
    });
    if (best) {
      best.classList.add("active");
      best.setAttribute("aria-current", "page");
    }
  }

  /* ---- command palette ---- */
  function initPalette() {
    const modalEl = document.querySelector("[data-vc-palette]");
    if (!modalEl || !window.bootstrap) return;
    const modal = bootstrap.Modal.getOrCreateInstance(modalEl);
    const input = modalEl.querySelector("[data-vc-palette-input]");
    const results = modalEl.querySelector("[data-vc-palette-results]");
    const url = modalEl.dataset.url;
    let timer = null;
    let sequence = 0;

    document.querySelectorAll("[data-vc-shortcut]").forEach(function (el) {
      el.textContent = isMac ? "⌘ K" : "Ctrl K";
    });

    function items() {
      return Array.from(results.querySelectorAll("[role=option]"));
    }

    function select(index) {
      const all = items();
      if (!all.length) return;
      const bounded = (index + all.length) % all.length;
      all.forEach(function (el, i) {
        el.setAttribute("aria-selected", i === bounded ? "true" : "false");
      });
      all[bounded].scrollIntoView({ block: "nearest" });
      input.setAttribute("aria-activedescendant", all[bounded].id);
    }

    function selectedIndex() {
      return items().findIndex(function (el) { return el.getAttribute("aria-selected") === "true"; });
    }

    function load() {
      const mine = ++sequence;
      const query = input.value.trim();
      fetch(url + "?q=" + encodeURIComponent(query), {
        credentials: "same-origin",
        headers: { "HX-Request": "true" },
      })
        .then(function (response) { return response.ok ? response.text() : ""; })
        .then(function (html) {
          if (mine !== sequence) return; // a later keystroke already asked again
          results.innerHTML = html;
          select(0);
        })
        .catch(function () { /* keep the previous results */ });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(load, 120);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") {
        event.preventDefault();
        select(selectedIndex() + 1);
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        select(selectedIndex() - 1);
      } else if (event.key === "Enter") {
        const current = items()[selectedIndex()];
        if (current) {
          event.preventDefault();
          window.location.assign(current.getAttribute("href"));
        }
      }
    });
    results.addEventListener("mousemove", function (event) {
      const option = event.target.closest("[role=option]");
      if (option) select(items().indexOf(option));
    });
    modalEl.addEventListener("shown.bs.modal", function () {
      input.select();
      input.focus();
      load();
    });

    document.querySelectorAll("[data-vc-palette-open]").forEach(function (button) {
      button.addEventListener("click", function () { modal.show(); });
    });
    document.addEventListener("keydown", function (event) {
      if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "k") {
        event.preventDefault();
        modal.show();
      }
    });
  }

  /* ---- bulk selection on lists: "select all", the selected-count bar, and "all
     matching" (every row of the filtered list, across pages: the server applies the
     filter and confirms the exact count before it changes anything) ---- */
  function initBulkSelect(root) {
    root.querySelectorAll("[data-vc-bulk]").forEach(function (container) {
      if (container.dataset.vcBulkReady) return;
      container.dataset.vcBulkReady = "1";
      const bar = document.querySelector(container.dataset.vcBulk);
      const total = parseInt(container.dataset.vcMatchCount || "0", 10);
      let matching = false;
      function boxes() {
        return Array.from(container.querySelectorAll("input[data-vc-select-row]"));
      }
      function alls() {
        return Array.from(container.querySelectorAll("[data-vc-select-all]"));
      }
      // The table (wide screens) and the cards (phones) hold one box each per customer.
      function chosen() {
        const ids = [];
        boxes().forEach(function (b) { if (b.checked && ids.indexOf(b.value) < 0) ids.push(b.value); });
        return ids;
      }
      function pageIds() {
        const ids = [];
        boxes().forEach(function (b) { if (ids.indexOf(b.value) < 0) ids.push(b.value); });
        return ids;
      }
      function refresh() {
        const ids = chosen();
        const everyOnPage = ids.length > 0 && ids.length === pageIds().length;
        if (!everyOnPage) matching = false;
        boxes().forEach(function (b) {
          const row = b.closest("tr, [data-vc-card]");
          if (row) row.classList.toggle("vc-row-selected", b.checked);
        });
        alls().forEach(function (all) {
          all.checked = everyOnPage;
          all.indeterminate = ids.length > 0 && !everyOnPage;
        });
        if (!bar) return;
        bar.hidden = ids.length === 0;
        bar.querySelectorAll("[data-vc-selected-count]").forEach(function (el) {
          el.textContent = String(ids.length);
        });
        bar.querySelectorAll("[data-vc-selected-page]").forEach(function (el) { el.hidden = matching; });
        bar.querySelectorAll("[data-vc-selected-matching]").forEach(function (el) { el.hidden = !matching; });
        bar.querySelectorAll("[data-vc-select-matching]").forEach(function (el) {
          el.hidden = matching || !everyOnPage || total <= ids.length;
        });
        // Bulk forms live outside the table; copy the chosen ids (or the filter) into them.
        bar.querySelectorAll("form").forEach(function (form) {
          form.querySelectorAll("input[data-vc-bulk-id]").forEach(function (el) { el.remove(); });
          function add(name, value) {
            const hidden = document.createElement("input");
            hidden.type = "hidden";
            hidden.name = name;
            hidden.value = value;
            hidden.setAttribute("data-vc-bulk-id", "");
            form.appendChild(hidden);
          }
          if (matching) {
            add("scope", "matching");
            add("query", container.dataset.vcQuery || "");
          } else {
            ids.forEach(function (id) { add("ids", id); });
          }
        });
      }
      container.addEventListener("change", function (event) {
        const target = event.target;
        if (target.hasAttribute("data-vc-select-all")) {
          boxes().forEach(function (b) { b.checked = target.checked; });
        } else if (target.hasAttribute("data-vc-select-row")) {
          boxes().forEach(function (b) { if (b.value === target.value) b.checked = target.checked; });
        }
        refresh();
      });
      if (bar && !bar.dataset.vcMatchingReady) {
        bar.dataset.vcMatchingReady = "1";
        bar.addEventListener("click", function (event) {
          const pick = event.target.closest("[data-vc-select-matching]");
          const undo = event.target.closest("[data-vc-select-page-only]");
          if (!pick && !undo) return;
          event.preventDefault();
          const current = document.querySelector("[data-vc-bulk]");
          if (current && current.vcSetMatching) current.vcSetMatching(Boolean(pick));
        });
      }
      container.vcSetMatching = function (on) { matching = on; refresh(); };
      refresh();
    });
  }

  /* ---- small helpers ---- */
  function initCopyButtons(root) {
    root.querySelectorAll("[data-vc-copy]").forEach(function (button) {
      if (button.dataset.vcCopyReady) return;
      button.dataset.vcCopyReady = "1";
      button.addEventListener("click", function () {
        const target = document.querySelector(button.dataset.vcCopy);
        if (!target || !navigator.clipboard) return;
        navigator.clipboard.writeText(target.textContent.trim()).then(function () {
          const label = button.querySelector("[data-vc-copy-label]");
          if (label && button.dataset.vcCopied) label.textContent = button.dataset.vcCopied;
        });
      });
    });
  }

  function initConfirm(root) {
    root.querySelectorAll("form[data-vc-confirm]").forEach(function (form) {
      if (form.dataset.vcConfirmReady) return;
      form.dataset.vcConfirmReady = "1";
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.vcConfirm)) event.preventDefault();
      });
    });
  }

  /* ---- customer list: chip removal and header sorting go through the filter form,
   * so the form's fields never disagree with what the table shows ---- */
  function initListForm() {
    const form = document.getElementById("vc-list-form");
    if (!form) return;
    function resubmit() {
      if (form.requestSubmit) form.requestSubmit();
      else form.submit();
    }
    document.addEventListener("click", function (event) {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      const chip = event.target.closest("[data-vc-chip-remove]");
      if (chip) {
        const fields = form.querySelectorAll("[name='" + CSS.escape(chip.dataset.vcChipRemove) + "']");
        if (!fields.length) return; // not a form field: let the link navigate
        event.preventDefault();
        fields.forEach(function (el) { el.value = ""; });
        resubmit();
        return;
      }
      const sortLink = event.target.closest("[data-vc-sort]");
      if (sortLink) {
        const select = form.querySelector("[name=sort]");
        if (!select) return;
        event.preventDefault();
        select.value = sortLink.dataset.vcSort;
        resubmit();
      }
    });
  }

  /* Forms that return to "this page" must send the URL as it is now (htmx may have
   * changed it since the page loaded), and "save view" must send the current query. */
  function initCurrentUrlForms() {
    document.addEventListener("submit", function (event) {
      const form = event.target;
      if (form.matches("[data-vc-next-current]")) {
        const next = form.querySelector("input[name=next]");
        if (next) next.value = window.location.pathname + window.location.search;
      }
      if (form.matches("[data-vc-query-current]")) {
        const query = form.querySelector("input[name=query]");
        if (query) query.value = window.location.search.replace(/^\?/, "");
      }
    }, true);
  }

  function initFragment(root) {
    initBulkSelect(root);
    initCopyButtons(root);
    initConfirm(root);
  }

  document.addEventListener("DOMContentLoaded", function () {
    initTheme();
    initNav();
    initPalette();
    initListForm();
    initCurrentUrlForms();
    initFragment(document);
  });
  // A write that found the database busy (503 from common/busy.py, e.g. during a large
  // import) says so, instead of the click seeming to do nothing.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (!xhr || xhr.status !== 503) return;
    var box = document.getElementById("vc-busy-alert");
    if (!box) {
      box = document.createElement("div");
      box.id = "vc-busy-alert";
      box.className = "alert alert-warning alert-dismissible position-fixed bottom-0 end-0 m-3 shadow";
      box.setAttribute("role", "alert");
      box.style.zIndex = "1080";
      box.style.maxWidth = "28rem";
      document.body.appendChild(box);
    }
    box.textContent = xhr.responseText;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close";
    close.setAttribute("data-bs-dismiss", "alert");
    close.setAttribute("aria-label", document.documentElement.lang === "zh-hans" ? "关闭" : "Close");
    box.appendChild(close);
  });

  // htmx swaps new table fragments in; wire their checkboxes and buttons too.
  document.addEventListener("htmx:afterSettle", function (event) {
    initFragment(event.target);
  });

  window.ValueCRM = { csrfToken: csrfToken, initFragment: initFragment };
})();
