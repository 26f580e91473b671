// docs.js starts Swagger UI on Keel's OpenAPI document. It is a file of its
// own, not an inline script, because the page's Content-Security-Policy
// allows scripts from Keel only ('self').
"use strict";
window.addEventListener("load", function () {
  fetch("/v1/openapi.json")
    .then(function (r) {
      return r.json();
    })
    .then(function (spec) {
      // HEAD operations mirror their GET and OPTIONS ones are CORS
      // preflights, which a reader never calls from here; and Swagger UI
      // 5.35 stops rendering, its page busy for good, once a document has
      // more than about 130 operations, which Keel's passed. The page
      // leaves both out; the document itself still has them.
      Object.keys(spec.paths || {}).forEach(function (path) {
        delete spec.paths[path].head;
        delete spec.paths[path].options;
      });
      window.ui = SwaggerUIBundle({
        spec: spec,
        dom_id: "#swagger-ui",
        deepLinking: true,
        // The default validator is a third-party service that would receive
        // the document and is refused by the CSP anyway.
        validatorUrl: null,
        presets: [SwaggerUIBundle.presets.apis],
        layout: "BaseLayout",
      });
    });
});
