// Copy the built files we serve from node_modules into the Django static tree.
// The static/vendor folder is generated (git-ignored): `make assets` recreates it.
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";

const root = dirname(dirname(new URL(import.meta.url).pathname));
const out = join(root, "src/valuecrm/static/vendor");
const files = {
  "bootstrap/dist/css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
  "bootstrap/dist/js/bootstrap.bundle.min.js": "bootstrap/bootstrap.bundle.min.js",
  "bootstrap-icons/font/bootstrap-icons.min.css": "bootstrap-icons/bootstrap-icons.min.css",
  "bootstrap-icons/font/fonts": "bootstrap-icons/fonts",
  "htmx.org/dist/htmx.min.js": "htmx/htmx.min.js",
  "alpinejs/dist/cdn.min.js": "alpinejs/alpine.min.js",
  // The build without eval: pages run under a Content-Security-Policy without 'unsafe-eval'.
  "@alpinejs/csp/dist/cdn.min.js": "alpinejs/alpine-csp.min.js",
  // The API docs page (/api/docs) works offline: Swagger UI is served from here, not a CDN.
  "swagger-ui-dist/swagger-ui-bundle.js": "swagger-ui/swagger-ui-bundle.js",
  "swagger-ui-dist/swagger-ui.css": "swagger-ui/swagger-ui.css",
  "swagger-ui-dist/favicon-32x32.png": "swagger-ui/favicon-32x32.png",
  "echarts/dist/echarts.min.js": "echarts/echarts.min.js",
  "sortablejs/Sortable.min.js": "sortablejs/Sortable.min.js",
};
rmSync(out, { recursive: true, force: true });
for (const [from, to] of Object.entries(files)) {
  const target = join(out, to);
  mkdirSync(dirname(target), { recursive: true });
  cpSync(join(root, "node_modules", from), target, { recursive: true });
}
console.log(`vendor assets copied to ${out}`);
