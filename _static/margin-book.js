// margin-book's figures (issue 19 item 3): shown at least at the scale where their smallest text (9 pt at
// 110 dpi, marginlib.book.plots.style) is 9 CSS px, scrolling sideways where the column is narrower;
// a click opens the figure at full size.
(function () {
  var MIN_SCALE = 9 / (9 * 110 / 72);
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
