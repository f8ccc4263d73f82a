/* Marketing: the Qini curve of the uplift page (ECharts). The server sends the points and
 * every translated label; this file only draws, in the page's theme and language. */
(function () {
  "use strict";

  const lang = (document.documentElement.lang || "en").toLowerCase();
  const locale = lang.startsWith("zh") ? "zh-CN" : "en";

  function css(name, fallback) {
    const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }
  function money(v) {
    return new Intl.NumberFormat(locale, { style: "currency", currency: "CNY", currencyDisplay: "narrowSymbol",
      maximumFractionDigits: 2 }).format(v);
  }
  function pct(v) {
    return new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 0 }).format(v);
  }

  function option(d) {
    const text = css("--bs-body-color", "#212529");
    const grid = css("--bs-border-color", "#dee2e6");
    const pairs = function (ys) { return d.x.map(function (x, i) { return [x, ys[i]]; }); };
    return {
      color: [css("--bs-primary", "#0d6efd"), css("--bs-secondary-color", "#6c757d")],
      textStyle: { color: text },
      grid: { left: 64, right: 16, top: 64, bottom: 48 },
      legend: { top: 0, textStyle: { color: text } },
      tooltip: { trigger: "axis", formatter: function (ps) {
        return pct(ps[0].value[0]) + "<br>" + ps.map(function (p) { return p.marker + p.seriesName + ": " + money(p.value[1]); }).join("<br>");
      } },
      xAxis: { type: "value", min: 0, max: 1, name: d.x_name, nameLocation: "middle", nameGap: 28,
        axisLabel: { color: text, formatter: pct }, splitLine: { lineStyle: { color: grid } } },
      yAxis: { type: "value", name: d.y_name, nameGap: 14, nameTextStyle: { color: text, align: "left" },
        axisLabel: { color: text, formatter: function (v) { return money(v); } }, splitLine: { lineStyle: { color: grid } } },
      series: [
        { name: d.model_name, type: "line", symbol: "none", lineStyle: { width: 2 }, areaStyle: { opacity: 0.12 }, data: pairs(d.model) },
        { name: d.random_name, type: "line", symbol: "none", lineStyle: { type: "dashed", width: 2 }, data: pairs(d.random) },
      ],
    };
  }

  function mount(el) {
    const source = document.getElementById(el.getAttribute("data-uplift-source"));
    if (!source || !window.echarts) return;
    const data = JSON.parse(source.textContent);
    let chart = window.echarts.init(el, null, { renderer: "svg", locale: locale === "zh-CN" ? "ZH" : "EN" });
    chart.setOption(option(data));
    window.addEventListener("resize", function () { chart.resize(); });
    document.addEventListener("vc:theme", function () {
      chart.dispose();
      chart = window.echarts.init(el, null, { renderer: "svg", locale: locale === "zh-CN" ? "ZH" : "EN" });
      chart.setOption(option(data));
    });
    el.setAttribute("data-drawn", "1");
  }

  document.querySelectorAll("[data-uplift-chart]").forEach(mount);
})();
