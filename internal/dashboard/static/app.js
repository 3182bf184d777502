// Copy buttons: the only script of the dashboard. Without it the secret
// stays in a read-only field to select and copy by hand.
document.addEventListener("click", function (e) {
  var b = e.target.closest("button.copy");
  if (!b) return;
  var field = document.getElementById(b.dataset.copy);
  if (!field) return;
  field.select();
  var done = function () { b.textContent = "Copied"; b.setAttribute("aria-live", "polite"); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
  } else {
    document.execCommand("copy");
    done();
  }
});
