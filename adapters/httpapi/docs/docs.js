// docs.js starts Swagger UI on Keel's OpenAPI document. It is a file of its
// own, not an inline script, because the page's Content-Security-Policy
// allows scripts from Keel only ('self').
"use strict";
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The default validator is a third-party service that would receive
    // the document and is refused by the CSP anyway.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
