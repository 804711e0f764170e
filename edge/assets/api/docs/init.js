// Starts Swagger UI on the edge's OpenAPI document. A file of its own, not an inline script, so
// that the page's CSP can refuse every inline script and style.
//
// - BaseLayout with the apis preset only: the standalone preset's top bar renders an inline
//   <style> (its logo), which `style-src 'self'` refuses, and its URL box is not wanted.
// - validatorUrl null: the default badge loads an image from validator.swagger.io.
// - queryConfigEnabled false (the default, stated): a link with ?url=… must not make the page
//   load another document.
// - persistAuthorization: the token given to "Authorize" (the jwtAuth bearer scheme) survives a
//   reload; Swagger UI keeps it in this origin's localStorage.
"use strict";

window.ui = SwaggerUIBundle({
  url: "/api/schema/",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  presets: [SwaggerUIBundle.presets.apis],
  deepLinking: true,
  persistAuthorization: true,
  validatorUrl: null,
  queryConfigEnabled: false,
});
