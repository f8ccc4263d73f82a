/* Deals: the kanban board (SortableJS drag, keyboard ← / → moves) and the small charts of
 * the forecast and the sales dashboard. The server decides every move: a refused one (4xx)
 * puts the card back where it was and says why. */
(function () {
  "use strict";

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; }
    catch (e) { return ""; }
  }

  const board = document.getElementById("deal-board");

  function toast(text) {
    const body = document.getElementById("board-toast-body");
    const el = document.getElementById("board-toast");
    if (!body || !el) { return; }
    body.textContent = text;
    el.setAttribute("data-shown", "1");
    if (window.bootstrap && window.bootstrap.Toast) { window.bootstrap.Toast.getOrCreateInstance(el).show(); }
    else { el.classList.add("show"); }
  }

  function refresh(focusId) {
    return fetch(board.dataset.refreshUrl, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        board.innerHTML = html;
        init();
        if (focusId) {
          const card = board.querySelector('[data-deal-id="' + focusId + '"]');
          if (card) { card.focus(); }
        }
        board.dispatchEvent(new CustomEvent("deals:refreshed"));
      });
  }

  function askLostReason() {
    return new Promise(function (resolve) {
      const reasons = JSON.parse(board.dataset.lostReasons || "[]");
      const dlg = document.createElement("dialog");
      dlg.className = "p-3 rounded border";
      const label = document.createElement("label");
      label.className = "form-label";
      label.textContent = board.dataset.msgLost;
      label.htmlFor = "lost-reason-pick";
      const select = document.createElement("select");
      select.className = "form-select mb-2";
      select.id = "lost-reason-pick";
      reasons.forEach(function (r) {
        const o = document.createElement("option");
        o.value = r.id; o.textContent = r.label; select.appendChild(o);
      });
      const ok = document.createElement("button");
      ok.className = "btn btn-primary btn-sm me-2"; ok.type = "button"; ok.textContent = "OK";
      const cancel = document.createElement("button");
      cancel.className = "btn btn-outline-secondary btn-sm"; cancel.type = "button"; cancel.textContent = "✕";
      dlg.append(label, select, ok, cancel);
      document.body.appendChild(dlg);
      ok.addEventListener("click", function () { dlg.close(); dlg.remove(); resolve(select.value); });
      cancel.addEventListener("click", function () { dlg.close(); dlg.remove(); resolve(null); });
      dlg.showModal();
      select.focus();
    });
  }

  function move(dealId, stageId, stageKind) {
    const send = function (lostReason) {
      const body = new URLSearchParams({ stage_id: stageId });
      if (lostReason) { body.set("lost_reason_id", lostReason); }
      return fetch(board.dataset.moveUrl.replace("/0/", "/" + dealId + "/"), {
        method: "POST", credentials: "same-origin", body: body,
        headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/x-www-form-urlencoded" },
      }).then(function (r) {
        if (r.ok) { return refresh(dealId); }
        return r.json().catch(function () { return {}; }).then(function (problem) {
          const why = problem.errors ? Object.values(problem.errors).flat().join(" ") : (problem.title || r.status);
          toast(board.dataset.msgRefused + " " + why);
          board.dataset.lastRefusal = String(r.status);
          return refresh(dealId);  // puts the card back where the server keeps it
        });
      });
    };
    if (stageKind === "lost") {
      return askLostReason().then(function (reason) { return reason ? send(reason) : refresh(dealId); });
    }
    return send(null);
  }

  function init() {
    if (!board || board.dataset.canMove !== "1") { return; }
    board.querySelectorAll(".vc-board-cards").forEach(function (list) {
      if (window.Sortable) {
        window.Sortable.create(list, {
          group: "deals", animation: 120, draggable: ".vc-deal-card",
          onEnd: function (evt) {
            if (evt.from === evt.to) { return; }
            const col = evt.to.closest(".vc-board-col");
            move(evt.item.dataset.dealId, col.dataset.stageId, col.dataset.stageKind);
          },
        });
      }
    });
  }

  function loadMore(button) {
    const holder = button.closest("[data-more-for]");
    const list = button.closest(".vc-board-col").querySelector(".vc-board-cards");
    button.disabled = true;
    return fetch(button.dataset.loadMore, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.text(); })
      .then(function (html) {
        const page = document.createElement("template");
        page.innerHTML = html;
        const next = page.content.querySelector("template[data-more]");
        if (next) { next.remove(); }
        const first = page.content.querySelector(".vc-deal-card");
        list.appendChild(page.content);
        if (next) { holder.replaceWith(next.content); } else { holder.remove(); }
        if (first) { first.focus(); }
      })
      .catch(function () { button.disabled = false; });
  }

  if (board) {
    board.addEventListener("click", function (e) {
      const button = e.target.closest && e.target.closest("[data-load-more]");
      if (button) { e.preventDefault(); loadMore(button); }
    });
    board.addEventListener("keydown", function (e) {
      const card = e.target.closest && e.target.closest(".vc-deal-card");
      if (!card || (e.key !== "ArrowRight" && e.key !== "ArrowLeft") || board.dataset.canMove !== "1") { return; }
      const cols = Array.from(board.querySelectorAll(".vc-board-col"));
      const here = cols.indexOf(card.closest(".vc-board-col"));
      const target = cols[here + (e.key === "ArrowRight" ? 1 : -1)];
      if (!target) { return; }
      e.preventDefault();
      move(card.dataset.dealId, target.dataset.stageId, target.dataset.stageKind);
    });
    init();
  }

  /* ---- charts: <div data-deals-chart="bar|hbar" data-deals-source="json-script-id"> ---- */
  function isDark() { return document.documentElement.getAttribute("data-bs-theme") === "dark"; }
  function drawCharts() {
    if (!window.echarts) { return; }
    document.querySelectorAll("[data-deals-chart]").forEach(function (el) {
      const src = document.getElementById(el.dataset.dealsSource);
      if (!src) { return; }
      const data = JSON.parse(src.textContent);
      const existing = window.echarts.getInstanceByDom(el);
      if (existing) { existing.dispose(); }
      const chart = window.echarts.init(el, isDark() ? "dark" : null, { renderer: "svg" });
      const horizontal = el.dataset.dealsChart === "hbar";
      const series = data.series || [{ name: "", data: data.values }];
      const cat = { type: "category", data: data.labels, axisLabel: { width: horizontal ? 140 : 80, overflow: "truncate" } };
      const val = { type: "value" };
      chart.setOption({
        backgroundColor: "transparent", tooltip: { trigger: "axis" },
        legend: series.length > 1 ? { top: 0 } : undefined,
        grid: { left: 8, right: 40, top: series.length > 1 ? 32 : 8, bottom: 8, containLabel: true },
        xAxis: horizontal ? val : cat, yAxis: horizontal ? Object.assign({ inverse: true }, cat) : val,
        series: series.map(function (s) { return { name: s.name, type: "bar", data: s.data }; }),
      });
      if (data.urls) {
        chart.on("click", function (p) { if (data.urls[p.dataIndex]) { window.location.href = data.urls[p.dataIndex]; } });
      }
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  drawCharts();
  document.addEventListener("vc:theme", drawCharts);
})();
