// Gallery island: on a photo page, ←/→ keys and horizontal swipes follow the rel=prev/next links,
// and the Share button uses the phone's share sheet (or copies the link). Everything here is a
// shortcut for something the page already does with plain links.
(function () {
  "use strict";

  function follow(rel) {
    var link = document.querySelector('a[rel="' + rel + '"]');
    if (link) { window.location.assign(link.href); }
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) { return; }
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea") { return; }
    if (event.key === "ArrowLeft") { follow("prev"); }
    if (event.key === "ArrowRight") { follow("next"); }
  });

  // Swipe: a mostly horizontal move of at least 50 px; left shows the next photo, as on a phone's camera roll.
  var figure = document.querySelector("[data-swipe]");
  if (figure) {
    var startX = null, startY = null;
    figure.addEventListener("touchstart", function (event) {
      if (event.touches.length !== 1) { startX = null; return; }
      startX = event.touches[0].clientX;
      startY = event.touches[0].clientY;
    }, { passive: true });
    figure.addEventListener("touchend", function (event) {
      if (startX === null) { return; }
      var dx = event.changedTouches[0].clientX - startX;
      var dy = event.changedTouches[0].clientY - startY;
      startX = null;
      if (Math.abs(dx) < 50 || Math.abs(dx) < 1.5 * Math.abs(dy)) { return; }
      follow(dx < 0 ? "next" : "prev");
    }, { passive: true });
  }

  var shareButton = document.querySelector("[data-share]");
  var shareInput = document.querySelector("[data-share-url]");
  if (shareButton && shareInput) {
    shareButton.hidden = false;
    shareButton.addEventListener("click", function () {
      var url = shareInput.value;
      if (navigator.share) {
        navigator.share({ title: document.title, url: url }).catch(function () {});
      } else if (navigator.clipboard) {
        navigator.clipboard.writeText(url).then(function () {
          shareButton.textContent = shareButton.dataset.copied || "✓";
        });
      } else {
        shareInput.select();
      }
    });
  }
})();
