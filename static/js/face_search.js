// Face search island: htmx swaps only 2xx answers by default, but a selfie without a face (422), too many
// searches (429) or too big a photo (413) come with a message the customer must see, so those are swapped
// into the results too. Choosing new selfies clears the face picker, whose choices belonged to the old ones.
(function () {
  "use strict";

  var SHOWN = { 413: true, 422: true, 429: true };

  document.addEventListener("htmx:beforeSwap", function (event) {
    var form = event.detail.elt;
    if (form && form.id === "face-search-form" && SHOWN[event.detail.xhr.status]) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input.name === "selfie" && input.form && input.form.id === "face-search-form") {
      var picker = document.getElementById("face-picker");
      if (picker) { picker.innerHTML = ""; }
    }
  });
})();
