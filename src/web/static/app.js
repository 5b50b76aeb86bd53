// spaces-archive serve: small enhancements only; every page works without this.
// "/" focuses the search box; the message a conversation was opened at scrolls into view.
document.addEventListener("keydown", function (event) {
  var box = document.querySelector('input[name="q"]');
  if (event.key === "/" && box && document.activeElement !== box &&
      !(document.activeElement && /INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName))) {
    event.preventDefault();
    box.focus();
  }
});
document.addEventListener("DOMContentLoaded", function () {
  var anchor = document.querySelector(".msg.anchor");
  if (anchor && !location.hash) { anchor.scrollIntoView({ block: "center" }); }
});
