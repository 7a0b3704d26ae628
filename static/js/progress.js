// Live processing progress island: Socket.IO in, DOM events out.
//
// An element with data-live-batch="<id>" makes this page join that batch's room. Each server
// `photo_status` event is re-dispatched on that element as a "pixstock:photo-status" DOM event, so
// the page (upload.js) decides how to show it. On every (re)connect the page is asked which files
// it is still waiting for (the "pixstock:watch" event fills detail.ids), and the server's reply
// is dispatched as "pixstock:upload-state" events: nothing that happened while the socket was
// away (a refresh, a dropped connection) is missed.
(function () {
  "use strict";

  var element = document.querySelector("[data-live-batch]");
  if (!element || !window.io) { return; }
  var batchId = Number(element.getAttribute("data-live-batch"));

  function dispatch(name, detail) {
    element.dispatchEvent(new CustomEvent(name, { detail: detail }));
  }

  // WebSocket only: the web role runs several processes (Procfile), and a WebSocket stays on the one it
  // opened on, where long-polling requests would need a load balancer with sticky sessions.
  var socket = window.io({ transports: ["websocket"] });

  socket.on("connect", function () {
    var watch = { ids: [] };
    dispatch("pixstock:watch", watch);
    socket.emit("join_batch", { batch_id: batchId, watch: watch.ids }, function (reply) {
      if (!reply || !reply.ok) { return; }
      (reply.uploads || []).forEach(function (state) { dispatch("pixstock:upload-state", state); });
    });
  });

  socket.on("photo_status", function (data) {
    if (data && data.batch_id === batchId) { dispatch("pixstock:photo-status", data); }
  });
})();
