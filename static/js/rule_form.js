// The rule form in the admin: show only the fieldset of the chosen kind's parameters.
// Without this script every kind's fieldset shows, each under its heading, and the form
// reads only the chosen kind's (agents/forms.py). Served from our static files: the CSP
// allows no inline script and no CDN.
(function () {
  "use strict";

  function scopeOf(select) {
    // A row of the rules inline on an agent's page, or the rule's own change form.
    return select.closest(".inline-related") || select.form || document;
  }

  function showKind(select) {
    scopeOf(select).querySelectorAll("fieldset.rule-kind").forEach(function (fieldset) {
      var chosen = fieldset.classList.contains("rule-kind-" + select.value);
      fieldset.style.display = chosen ? "" : "none";
    });
  }

  function showAll(root) {
    root.querySelectorAll("select.rule-kind-switch").forEach(showKind);
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("select.rule-kind-switch")) {
      showKind(event.target);
    }
  });
  document.addEventListener("formset:added", function (event) {
    showAll(event.target);
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { showAll(document); });
  } else {
    showAll(document);
  }
})();
