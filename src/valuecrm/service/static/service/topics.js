/* Feedback topics: the monthly trend of the largest topics (stacked bars). The server sends
 * the numbers and every translated label (json_script); this file only draws, in the page's
 * theme (re-drawn on "vc:theme") and language. */
(function () {
  "use strict";

  const el = document.querySelector("[data-topics-chart]");
  if (!el || !window.echarts) { return; }
  const data = JSON.parse(document.getElementById(el.dataset.topicsChart).textContent);
  const lang = (document.documentElement.lang || "en").toLowerCase();
  let chart = null;

  function dark() { return document.documentElement.getAttribute("data-bs-theme") === "dark"; }
  function css(name, fallback) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
  }

  function draw() {
    if (chart) { chart.dispose(); }
    if (!data.series.length) {
      el.textContent = data.empty;
      el.classList.add("text-body-secondary");
      return;
    }
    chart = window.echarts.init(el, dark() ? "dark" : null, { locale: lang.startsWith("zh") ? "ZH" : "EN" });
    const text = css("--bs-body-color", dark() ? "#dee2e6" : "#212529");
    chart.setOption({
      backgroundColor: "transparent",
      color: [css("--bs-primary", "#0d6efd"), "#20c997", "#fd7e14", "#6f42c1", "#d63384", "#0dcaf0", "#ffc107", "#6c757d"],
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { type: "scroll", top: 0, textStyle: { color: text } },
      grid: { left: 8, right: 8, top: 36, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: data.months, axisLabel: { color: text } },
      yAxis: { type: "value", minInterval: 1, axisLabel: { color: text } },
      series: data.series.map(function (s) {
        return { name: s.name, type: "bar", stack: "texts", data: s.data, emphasis: { focus: "series" } };
      }),
    });
  }

  draw();
  window.addEventListener("resize", function () { if (chart) { chart.resize(); } });
  document.addEventListener("vc:theme", draw);
})();
