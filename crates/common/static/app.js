// Bulkhead's only script of its own: a submitted form's button shows that
// the server is working (pico.css draws a spinner for aria-busy), so a
// slow action (a sign-in's password check, a registration) shows progress
// and is not sent twice by an impatient second click.
document.addEventListener("submit", function (event) {
  var button = event.target.querySelector("button[type=submit], button:not([type])");
  if (!button) return;
  if (button.getAttribute("aria-busy") === "true") {
    event.preventDefault();
    return;
  }
  button.setAttribute("aria-busy", "true");
});
// Coming back with the browser's Back button: the page is live again.
window.addEventListener("pageshow", function () {
  document.querySelectorAll("button[aria-busy=true]").forEach(function (b) {
    b.removeAttribute("aria-busy");
  });
});
