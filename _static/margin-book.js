// margin-book's figures (issue 19 item 3): shown at least at the scale where their smallest text is
// marginlib.book.plots.MIN_TEXT_PX CSS px (window.marginBookMinScale, written by the build into
// margin-book-scale.js from plots.min_figure_scale()), scrolling sideways where the column is narrower;
// a click opens the figure at full size.
(function () {
  var MIN_SCALE = window.marginBookMinScale || 1;
  function fit(img) {
    img.classList.add("margin-book-figure");
    img.style.width = "100%";
    img.style.minWidth = Math.ceil(img.naturalWidth * MIN_SCALE) + "px";
    img.style.maxWidth = img.naturalWidth + "px";
    img.title = "click to open at full size";
    img.addEventListener("click", function () { window.open(img.src, "_blank"); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("article img").forEach(function (img) {
      if (!/_images\/.*\.png$/i.test(img.getAttribute("src") || "")) return;
      if (img.complete) fit(img); else img.addEventListener("load", function () { fit(img); });
    });
  });
})();
