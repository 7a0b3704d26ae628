// Approval-queue island: keyboard review, shift-click ranges, and photos appearing live.
//
// Keys (listed on the page): arrows move the highlight, Space toggles the highlighted photo's
// checkbox, A approves and R rejects (the selection if any, else the highlighted photo) by
// clicking the page's own buttons, so every action is the same htmx form post as a mouse click.
// After the grid is swapped, the highlight returns to the same position.
(function () {
  "use strict";

  var form = document.getElementById("queue-form");
  if (!form) { return; }
  var current = 0;        // index of the highlighted card
  var lastClicked = null; // index of the last checkbox clicked, for shift-click ranges

  function cards() { return Array.prototype.slice.call(document.querySelectorAll("#queue-cards .queue-card")); }
  function checked() { return form.querySelectorAll('#queue-cards input[name="photo_id"]:checked'); }

  function highlight(index, scroll) {
    var all = cards();
    all.forEach(function (card) { card.classList.remove("current"); });
    if (!all.length) { current = 0; return; }
    current = Math.max(0, Math.min(index, all.length - 1));
    all[current].classList.add("current");
    if (scroll !== false) { all[current].focus({ preventScroll: true }); all[current].scrollIntoView({ block: "nearest" }); }
  }

  function columns() {
    var all = cards();
    if (all.length < 2) { return 1; }
    var top = all[0].offsetTop, n = 0;
    while (n < all.length && all[n].offsetTop === top) { n += 1; }
    return Math.max(1, n);
  }

  function updateCount() {
    var out = form.querySelector("[data-selected-count]");
    var n = checked().length;
    if (out) { out.textContent = n ? n + " ✓" : ""; }
  }

  function act(kind) {
    // kind is "approve" or "reject": the toolbar button for a selection, the card's own otherwise.
    var button = checked().length
      ? form.querySelector('[data-bulk="' + kind + '"]')
      : (cards()[current] || document.createElement("i")).querySelector("[data-" + kind + "]");
    if (button) { button.click(); }
  }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) { return; }
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" && event.target.type !== "checkbox" || tag === "select" || tag === "textarea") { return; }
    var key = event.key;
    if (key === "ArrowRight") { highlight(current + 1); }
    else if (key === "ArrowLeft") { highlight(current - 1); }
    else if (key === "ArrowDown") { highlight(current + columns()); }
    else if (key === "ArrowUp") { highlight(current - columns()); }
    else if (key === " " || key === "Spacebar") {
      var box = (cards()[current] || document.createElement("i")).querySelector('input[type="checkbox"]');
      if (box) { box.checked = !box.checked; lastClicked = current; updateCount(); }
    }
    else if (key === "a" || key === "A") { act("approve"); }
    else if (key === "r" || key === "R") { act("reject"); }
    else { return; }
    event.preventDefault();
  });

  // Shift-click a checkbox to set every checkbox between it and the last one clicked the same way.
  form.addEventListener("click", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches('#queue-cards input[type="checkbox"]')) { return; }
    var all = cards();
    var index = all.indexOf(box.closest(".queue-card"));
    if (event.shiftKey && lastClicked !== null && lastClicked !== index) {
      var low = Math.min(lastClicked, index), high = Math.max(lastClicked, index);
      for (var i = low; i <= high; i += 1) {
        var other = all[i] && all[i].querySelector('input[type="checkbox"]');
        if (other) { other.checked = box.checked; }
      }
    }
    lastClicked = index;
    highlight(index, false);
    updateCount();
  });

  var selectAll = form.querySelector("[data-select-all]");
  if (selectAll) {
    selectAll.hidden = false;
    selectAll.addEventListener("click", function () {
      var boxes = form.querySelectorAll('#queue-cards input[type="checkbox"]');
      var on = checked().length < boxes.length;
      boxes.forEach(function (b) { b.checked = on; });
      updateCount();
    });
  }

  // After an action swaps the grid, keep the highlight where it was (the next photo moved into its place).
  document.body.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.target && event.detail.target.id === "queue-grid") {
      lastClicked = null;
      highlight(current);
      updateCount();
    }
  });

  // Filters apply as soon as they change.
  var filters = document.querySelector("[data-autosubmit]");
  if (filters) {
    filters.addEventListener("change", function () { filters.submit(); });
  }

  // Live: photos that finish processing appear at the top; the waiting count follows every review.
  var fetching = false, again = false;
  function dropDuplicates() {
    // A photo can arrive both live and in a re-rendered grid: keep its first card only.
    var seen = {};
    cards().forEach(function (card) {
      if (seen[card.dataset.photoId]) { card.remove(); } else { seen[card.dataset.photoId] = true; }
    });
  }
  function fetchNewer() {
    var grid = document.getElementById("queue-grid");
    if (!grid || !window.htmx) { return; }
    if (fetching) { again = true; return; }
    var url = grid.dataset.newerUrl;
    var top = grid.dataset.topCursor;
    url += (url.indexOf("?") < 0 ? "?" : "&") + "after=" + encodeURIComponent(top || "0_0");
    fetching = true;
    htmx.ajax("GET", url, { target: "#queue-cards", swap: "afterbegin" }).then(function () {
      var first = document.querySelector("#queue-cards .queue-card");
      var empty = grid.querySelector("[data-empty]");
      if (first) { grid.dataset.topCursor = first.dataset.cursor; if (empty) { empty.remove(); } }
      dropDuplicates();
      highlight(current, false);
    }).finally(function () {
      fetching = false;
      if (again) { again = false; fetchNewer(); }
    });
  }

  // The uploads side announces `approval_count` to the admins' room whenever a photo finishes
  // processing (and reviews announce it too): when the count grows, fetch what is new.
  var shown = null;
  function showCount(pending) {
    var badge = document.getElementById("pending-count");
    if (typeof pending !== "number") { return; }
    if (badge) { badge.textContent = pending; }
    if (shown !== null && pending > shown) { fetchNewer(); }
    shown = pending;
  }
  if (window.io) {
    var socket = window.io({ transports: ["websocket"] }); // as progress.js: one process per connection
    socket.on("connect", function () {
      socket.emit("join_admins", {}, function (reply) {
        if (reply && reply.ok) { showCount(reply.pending); }
      });
    });
    socket.on("approval_count", function (data) { showCount(data && data.pending); });
  }
  window.pixstockQueue = { fetchNewer: fetchNewer };

  highlight(0, false);
  updateCount();
})();
