/* PAT-MDM steward UI: small progressive enhancement; every page works without it.
 * Keyboard shortcuts on a review task: s = same person, d = different people, k = skip.
 * A key clicks the button carrying its data-key, so the form, its CSRF token and the
 * comment go along exactly as with a mouse. Keys typed into a form field are left alone. */
(function () {
  "use strict";
  var submitted = false;  // one decision per page, even when a key is pressed twice
  document.addEventListener("keydown", function (event) {
    if (submitted || event.ctrlKey || event.metaKey || event.altKey || event.repeat) { return; }
    var target = event.target;
    var tag = target && target.tagName ? target.tagName.toLowerCase() : "";
    if (tag === "input" || tag === "textarea" || tag === "select" || (target && target.isContentEditable)) { return; }
    var button = document.querySelector('button[data-key="' + String(event.key).toLowerCase() + '"]');
    if (!button) { return; }
    event.preventDefault();
    submitted = true;
    button.click();
  });
})();
