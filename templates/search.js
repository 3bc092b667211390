// Search across every archived insight. Works from file:// because the index is a
// script (search-index.js sets window.DIGEST_SEARCH), not a fetch(). Results are
// built with textContent only: archived text is never parsed as HTML.
(function () {
  "use strict";
  var input = document.getElementById("search");
  var list = document.getElementById("search-results");
  var status = document.getElementById("search-status");
  var index = window.DIGEST_SEARCH || [];
  if (!input || !list) { return; }
  document.getElementById("search-form").hidden = false;

  function words(text) {
    return text.toLocaleLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  }

  function run() {
    var query = words(input.value);
    list.textContent = "";
    if (!query.length) { status.textContent = ""; return; }
    var hits = index.filter(function (e) {
      var hay = (e.t + " " + e.s).toLocaleLowerCase();
      return query.every(function (w) { return hay.indexOf(w) !== -1; });
    }).slice(0, 50);
    status.textContent = hits.length ? hits.length + (hits.length === 50 ? "+" : "") + " found" : "Nothing found";
    hits.forEach(function (e) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = "issues/" + e.d + ".html#insight-" + e.r;
      a.textContent = e.d + " #" + e.r;
      var p = document.createElement("p");
      p.textContent = e.t;
      li.appendChild(a);
      li.appendChild(p);
      list.appendChild(li);
    });
  }

  // ?q=words opens the page with a search done: links to a search can be shared.
  var initial = new URLSearchParams(window.location.search).get("q");
  if (initial) { input.value = initial; run(); }
  input.addEventListener("input", run);
  document.getElementById("search-form").addEventListener("submit", function (ev) { ev.preventDefault(); run(); });
})();
