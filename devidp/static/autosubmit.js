// Submits the SAML HTTP-POST binding form as soon as the page has loaded.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("saml-post");
  if (form) {
    form.submit();
  }
});
