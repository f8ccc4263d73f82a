/* ValueCRM charts: small ECharts builders for the value pages.
 *
 * Markup: <div data-vc-chart="equity" data-vc-chart-data="id-of-json-script"
 *              data-vc-currency="CNY" data-vc-empty="No data yet"></div>
 * The server sends the numbers and every (translated) label; this file only draws.
 * Charts follow the page theme (re-drawn on the "vc:theme" event app.js fires) and
 * the page language (ECharts locale, Intl number formats). A point that carries a
 * `url` opens it on click: the customer list filtered to what the point stands for.
 */
(function () {
  "use strict";

  const lang = (document.documentElement.lang || "en").toLowerCase();
  const locale = lang.startsWith("zh") ? "zh-CN" : "en";
  const mounted = [];

  function isDark() {
    return document.documentElement.getAttribute("data-bs-theme") === "dark";
  }

  function css(name, fallback) {
    const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }

  function colours() {
    return [css("--bs-primary", "#0d6efd"), "#20c997", "#fd7e14", "#6f42c1", "#d63384", "#0dcaf0", "#ffc107", "#6c757d"];
  }

  /* One colour per lifecycle stage, shared by every chart that shows stages (the funnel
   * and the stage-flow Sankey), so "At risk" is the same orange wherever it appears. */
  function stageColour(code) {
    const map = {
      prospect: "#adb5bd", new: "#0dcaf0", growing: "#20c997", loyal: css("--bs-primary", "#0d6efd"),
      at_risk: "#fd7e14", churned: "#dc3545", reactivated: "#6f42c1",
    };
    return map[code] || "#6c757d";
  }

  /* ---- numbers in the reader's locale ---- */
  function num(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return "—";
    return new Intl.NumberFormat(locale, { maximumFractionDigits: digits === undefined ? 0 : digits }).format(v);
  }
  /* compact: "axis" for value-axis ticks, which are round and close together
   * (¥1.035M, ¥1.04M: four significant digits keep them apart); true for other
   * short labels (two digits: ¥3K / ¥3000, not ¥2954.2 where 万 does not apply). */
  function money(v, currency, compact) {
    if (v === null || v === undefined || Number.isNaN(v)) return "—";
    const digits = compact === "axis" ? { maximumSignificantDigits: 4 }
      : compact ? { maximumSignificantDigits: 2 } : { maximumFractionDigits: 0 };
    return new Intl.NumberFormat(locale, Object.assign({
      style: "currency", currency: currency || "CNY", currencyDisplay: "narrowSymbol",
      notation: compact ? "compact" : "standard",
    }, digits)).format(v);
  }
  function pct(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return "—";
    return new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: digits === undefined ? 0 : digits }).format(v);
  }

  function textColour() { return isDark() ? "#adb5bd" : "#495057"; }
  function gridLine() { return isDark() ? "rgba(255,255,255,0.08)" : "rgba(0,0,0,0.08)"; }

  function valueAxis(extra) {
    return Object.assign({
      type: "value", splitLine: { lineStyle: { color: gridLine() } },
      axisLabel: { color: textColour() }, nameTextStyle: { color: textColour() },
    }, extra || {});
  }
  function categoryAxis(data, extra) {
    return Object.assign({
      type: "category", data: data, axisLabel: { color: textColour() },
      nameTextStyle: { color: textColour() }, axisTick: { alignWithLabel: true },
    }, extra || {});
  }
  function baseGrid(extra) {
    return Object.assign({ left: 8, right: 16, top: 28, bottom: 8, containLabel: true }, extra || {});
  }
  function legend() {
    return { top: 0, textStyle: { color: textColour() }, itemWidth: 14, itemHeight: 8 };
  }

  /* ---- builders: data → ECharts option ---- */
  const builders = {
    sparkline: function (d, cur) {
      return {
        grid: { left: 2, right: 2, top: 4, bottom: 2 },
        xAxis: { type: "category", show: false, boundaryGap: false, data: d.map(function (p) { return p.x; }) },  // edge to edge
        yAxis: { type: "value", show: false, scale: true },
        tooltip: { trigger: "axis", valueFormatter: function (v) { return money(v, cur); } },
        series: [{ type: "line", data: d.map(function (p) { return p.y; }), smooth: true, symbol: "none",
          lineStyle: { width: 2 }, areaStyle: { opacity: 0.15 } }],
      };
    },
    equity: function (d, cur) {
      return {
        grid: baseGrid(),
        tooltip: { trigger: "axis", valueFormatter: function (v) { return money(v, cur); } },
        xAxis: categoryAxis(d.points.map(function (p) { return p.x; }), { boundaryGap: false,
          // the first and last dates sit on the plot's edges: keep them inside it
          axisLabel: { color: textColour(), alignMinLabel: "left", alignMaxLabel: "right" } }),
        yAxis: valueAxis({ scale: true, axisLabel: { color: textColour(), formatter: function (v) { return money(v, cur, "axis"); } } }),
        series: [{ name: d.series_name, type: "line", smooth: true, symbolSize: 8, areaStyle: { opacity: 0.12 },
          data: d.points.map(function (p) { return { value: p.y, url: p.url }; }) }],
      };
    },
    clv_histogram: function (d, cur) {
      return {
        grid: baseGrid({ bottom: 4 }),
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" },
          formatter: function (ps) {
            const b = d.bins[ps[0].dataIndex];
            return money(b.from, cur) + " – " + money(b.to, cur) + "<br>" + d.series_name + ": <b>" + num(b.count) + "</b>";
          } },
        xAxis: categoryAxis(d.bins.map(function (b) { return money(b.from, cur, true); }), { name: d.x_name, nameLocation: "middle", nameGap: 28 }),
        yAxis: valueAxis(),
        series: [{ name: d.series_name, type: "bar", barCategoryGap: "8%",
          data: d.bins.map(function (b) { return { value: b.count, url: b.url }; }) }],
      };
    },
    tiers: function (d, cur) {
      return {
        grid: baseGrid({ top: 36 }), legend: legend(),
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: categoryAxis(d.items.map(function (t) { return t.label; })),
        yAxis: [valueAxis(), valueAxis({ splitLine: { show: false },
          axisLabel: { color: textColour(), formatter: function (v) { return money(v, cur, "axis"); } } })],
        series: [
          { name: d.series_name, type: "bar", barMaxWidth: 48,
            label: { show: true, position: "top", color: textColour(), formatter: function (p) { return num(p.value); } },
            data: d.items.map(function (t) { return { value: t.count, url: t.url }; }) },
          { name: d.clv_name, type: "bar", yAxisIndex: 1, barMaxWidth: 48,
            tooltip: { valueFormatter: function (v) { return money(v, cur); } },
            data: d.items.map(function (t) { return { value: t.clv, url: t.url }; }) },
        ],
      };
    },
    funnel: function (d) {
      const items = d.items.slice().reverse();
      return {
        grid: baseGrid({ right: 48 }),
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: valueAxis(),
        yAxis: categoryAxis(items.map(function (s) { return s.label; })),
        series: [{ name: d.series_name, type: "bar", barMaxWidth: 26,
          label: { show: true, position: "right", color: textColour(), formatter: function (p) { return num(p.value); } },
          data: items.map(function (s) {
            return { value: s.count, url: s.url, itemStyle: { color: stageColour(s.stage) } };
          }) }],
      };
    },
    stage_flow: function (d) {
      // Left nodes are "stage before", right nodes "stage after": the same label with a
      // zero-width space appended, so at_risk → churned → at_risk never forms a cycle.
      const names = {};  // node name → stage code, for its colour
      const links = d.links.map(function (l) {
        const target = l.target + "\u200b";
        names[l.source] = l.source_code;
        names[target] = l.target_code;
        return { source: l.source, target: target, value: l.value, url: l.url };
      });
      return {
        tooltip: { trigger: "item", formatter: function (p) {
          if (p.dataType === "edge") return p.data.source + " → " + p.data.target + ": <b>" + num(p.data.value) + "</b>";
          return p.name + ": " + num(p.value);
        } },
        series: [{ type: "sankey", left: 8, right: 96, top: 8, bottom: 8, nodeGap: 10, emphasis: { focus: "adjacency" },
          label: { color: textColour() }, lineStyle: { color: "gradient", opacity: 0.35 },
          data: Object.keys(names).map(function (n) { return { name: n, itemStyle: { color: stageColour(names[n]) } }; }), links: links }],
      };
    },
    rfm: function (d, cur) {
      const max = Math.max.apply(null, d.cells.map(function (c) { return c.count; }).concat([1]));
      return {
        grid: baseGrid({ bottom: 40, left: 36 }),  // room for the rotated R-axis name (not part of containLabel)
        tooltip: { formatter: function (p) {
          const c = p.data.cell;
          return "R" + c.r + " · F" + c.f + " — <b>" + c.segment + "</b><br>" + d.series_name + ": " + num(c.count) + "<br>" + money(c.clv, cur);
        } },
        xAxis: categoryAxis(["1", "2", "3", "4", "5"], { name: d.x_name, nameLocation: "middle", nameGap: 24, splitArea: { show: true } }),
        yAxis: categoryAxis(["1", "2", "3", "4", "5"], { name: d.y_name, nameLocation: "middle", nameGap: 24, splitArea: { show: true } }),
        visualMap: { min: 0, max: max, calculable: false, show: false, inRange: { color: isDark() ? ["#1e2a3a", "#4dabf7"] : ["#e7f1ff", "#0b5ed7"] } },
        series: [{ name: d.series_name, type: "heatmap", label: { show: true, formatter: function (p) { return num(p.data.cell.count); } },
          data: d.cells.map(function (c) { return { value: [c.f - 1, c.r - 1, c.count], url: c.url, cell: c }; }) }],
      };
    },
    cohorts: function (d) {
      const data = [];
      d.matrix.forEach(function (row, i) {
        row.forEach(function (v, j) {
          if (v !== null && v !== undefined) data.push({ value: [j, i, v], url: d.urls[i] });
        });
      });
      return {
        grid: baseGrid({ bottom: 40 }),
        tooltip: { formatter: function (p) {
          const i = p.data.value[1];
          return d.cohorts[i] + " (" + num(d.sizes[i]) + ") · M" + d.offsets[p.data.value[0]] + ": <b>" + pct(p.data.value[2], 1) + "</b>";
        } },
        xAxis: categoryAxis(d.offsets.map(function (o) { return "M" + o; }), { name: d.x_name, nameLocation: "middle", nameGap: 24 }),
        yAxis: categoryAxis(d.cohorts, { inverse: true }),
        visualMap: { min: 0, max: 0.5, show: false, inRange: { color: isDark() ? ["#1e2a3a", "#38d9a9"] : ["#f1fbf6", "#198754"] } },
        series: [{ name: d.series_name, type: "heatmap", label: { show: true, fontSize: 10, formatter: function (p) { return pct(p.data.value[2]); } },
          data: data }],
      };
    },
    cac: function (d, cur) {
      return {
        grid: baseGrid({ top: 36 }), legend: legend(),
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, formatter: function (ps) {
          const row = d.items[ps[0].dataIndex];
          return "<b>" + row.label + "</b><br>" + d.cac_name + ": " + money(row.cac, cur) + "<br>" + d.ltv_name + ": " +
            money(row.avg_clv, cur) + "<br>" + d.ratio_name + ": " + (row.ltv_cac === null ? "—" : num(row.ltv_cac, 1) + "×");
        } },
        xAxis: categoryAxis(d.items.map(function (r) { return r.label; }), { axisLabel: { color: textColour(), interval: 0, rotate: d.items.length > 5 ? 30 : 0 } }),
        yAxis: valueAxis({ axisLabel: { color: textColour(), formatter: function (v) { return money(v, cur, "axis"); } } }),
        series: [
          { name: d.cac_name, type: "bar", barMaxWidth: 32, data: d.items.map(function (r) { return { value: r.cac, url: r.url }; }) },
          { name: d.ltv_name, type: "bar", barMaxWidth: 32, data: d.items.map(function (r) { return { value: r.avg_clv, url: r.url }; }) },
        ],
      };
    },
    tracking: function (d) {
      const markArea = d.holdout_from ? { silent: true, itemStyle: { color: isDark() ? "rgba(255,255,255,0.05)" : "rgba(13,110,253,0.06)" },
        label: { color: textColour() }, data: [[{ name: d.holdout_name, xAxis: d.holdout_from }, { xAxis: d.x[d.x.length - 1] }]] } : undefined;
      return {
        grid: baseGrid({ top: 36 }), legend: legend(),
        tooltip: { trigger: "axis", valueFormatter: function (v) { return num(v, 1); } },
        xAxis: categoryAxis(d.x, { boundaryGap: false,
          axisLabel: { color: textColour(), alignMinLabel: "left", alignMaxLabel: "right" } }),
        yAxis: valueAxis({ name: d.y_name, nameLocation: "middle", nameGap: 40 }),
        series: [
          { name: d.actual_name, type: "line", symbol: "none", data: d.actual, markArea: markArea },
          { name: d.expected_name, type: "line", symbol: "none", lineStyle: { type: "dashed", width: 2 }, data: d.expected },
        ],
      };
    },
    comparison: function (d) {
      return {
        grid: baseGrid({ top: 36 }), legend: legend(),
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: function (v) { return num(v); } },
        xAxis: categoryAxis(d.models), yAxis: valueAxis(),
        series: [
          { name: d.expected_name, type: "bar", barMaxWidth: 40, data: d.expected },
          { name: d.actual_name, type: "bar", barMaxWidth: 40, data: d.actual },
        ],
      };
    },
    calibration: function (d) {
      function pairs(x, y) { return x.map(function (v, i) { return [v, y[i]]; }); }
      return {
        grid: baseGrid({ top: 36, bottom: 28 }), legend: legend(),
        tooltip: { trigger: "item", formatter: function (p) {
          return p.seriesName + "<br>" + pct(p.value[0], 1) + " → " + pct(p.value[1], 1);
        } },
        xAxis: valueAxis({ min: 0, max: 1, name: d.x_name, nameLocation: "middle", nameGap: 24,
          axisLabel: { color: textColour(), formatter: function (v) { return pct(v); } } }),
        yAxis: valueAxis({ min: 0, max: 1, axisLabel: { color: textColour(), formatter: function (v) { return pct(v); } } }),
        series: [
          { name: d.ideal_name, type: "line", symbol: "none", silent: true, lineStyle: { type: "dotted", color: textColour() }, data: [[0, 0], [1, 1]] },
          { name: d.model_name, type: "line", symbolSize: 7, data: pairs(d.predicted, d.observed) },
          { name: d.baseline_name, type: "line", symbolSize: 6, lineStyle: { type: "dashed" }, data: pairs(d.baseline_predicted, d.baseline_observed) },
        ],
      };
    },
  };

  function isEmpty(kind, d) {
    switch (kind) {
      case "sparkline": return d.length < 2;
      case "equity": return d.points.length === 0;
      case "clv_histogram": return d.bins.length === 0;
      case "tiers": case "funnel": return d.items.every(function (i) { return !i.count; });
      case "stage_flow": return d.links.length === 0;
      case "rfm": return d.cells.length === 0;
      case "cohorts": return d.cohorts.length === 0;
      case "cac": return d.items.length === 0;
      case "tracking": return d.x.length === 0;
      case "comparison": return d.models.length === 0;
      case "calibration": return d.bins.length === 0;
      default: return false;
    }
  }

  function mount(el) {
    if (!window.echarts) return;
    const kind = el.getAttribute("data-vc-chart");
    const source = document.getElementById(el.getAttribute("data-vc-chart-data"));
    if (!source || !builders[kind]) return;
    const data = JSON.parse(source.textContent);
    if (isEmpty(kind, data)) {
      el.classList.add("vc-chart-empty");
      el.innerHTML = "";
      const p = document.createElement("p");
      p.className = "text-body-secondary small m-0";
      p.textContent = el.getAttribute("data-vc-empty") || "";
      el.appendChild(p);
      return;
    }
    const chart = window.echarts.init(el, isDark() ? "dark" : null, { locale: locale === "zh-CN" ? "ZH" : "EN" });
    const option = builders[kind](data, el.getAttribute("data-vc-currency") || "CNY");
    option.backgroundColor = "transparent";
    option.color = colours();
    option.textStyle = { fontFamily: getComputedStyle(document.body).fontFamily };
    // People who asked their system for less motion get the charts drawn at once.
    option.animation = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    chart.setOption(option);
    chart.on("click", function (p) {
      const url = p.data && p.data.url;
      if (url) window.location.assign(url);
    });
    if (option.series.some(function (s) { return s.data && s.data.some && s.data.some(function (x) { return x && x.url; }); }) ||
        (option.series[0] && option.series[0].links)) {
      el.style.cursor = "pointer";
    }
    mounted.push({ el: el, chart: chart });
  }

  function mountAll(root) {
    (root || document).querySelectorAll("[data-vc-chart]").forEach(mount);
  }

  function remountAll() {
    mounted.splice(0).forEach(function (m) { m.chart.dispose(); });
    mountAll();
  }

  let resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { mounted.forEach(function (m) { m.chart.resize(); }); }, 120);
  });
  document.addEventListener("vc:theme", remountAll);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { mountAll(); });
  else mountAll();

  window.VCCharts = { mountAll: mountAll, money: money, num: num, pct: pct };
})();
