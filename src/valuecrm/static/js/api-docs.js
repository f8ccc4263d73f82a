// Starts Swagger UI on /api/docs from the settings the page carries as JSON data.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("swagger-settings").textContent);
  var csrfToken = document.body.dataset.csrfToken;
  config.dom_id = "#swagger-ui";
  config.presets = [SwaggerUIBundle.presets.apis];
  // "Try it out" runs with the login session, which the API checks for CSRF.
  config.requestInterceptor = function (req) {
    if (csrfToken) req.headers["X-CSRFToken"] = csrfToken;
    return req;
  };
  window.ui = SwaggerUIBundle(config);
})();
