// Threadline's own script: keyboard shortcuts for the inbox, clickable rows, the link chart, "back" links.
// Loaded as a file (the content security policy allows no inline script).
(function () {
  "use strict";

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("table[data-keyboard-list] tbody tr")); }

  function select(index) {
    var list = rows();
    if (!list.length) { return; }
    index = Math.max(0, Math.min(list.length - 1, index));
    list.forEach(function (r) { r.classList.remove("selected"); });
    list[index].classList.add("selected");
    list[index].scrollIntoView({ block: "nearest" });
  }

  function current() { return rows().findIndex(function (r) { return r.classList.contains("selected"); }); }

  function typing(target) {
    var tag = (target && target.tagName || "").toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || (target && target.isContentEditable);
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var search = document.getElementById("inbox-search");
    var link;
    switch (event.key) {
      case "/": if (search) { event.preventDefault(); search.focus(); search.select(); } break;
      case "j": select(current() + 1); break;
      case "k": select(current() < 0 ? 0 : current() - 1); break;
      case "Enter": {
        var i = current();
        if (i >= 0) { window.location.href = rows()[i].getAttribute("data-href"); }
        break;
      }
      case "n": link = document.querySelector(".pager a[rel=next]"); if (link) { link.click(); } break;
      case "p": link = document.querySelector(".pager a[rel=prev]"); if (link) { link.click(); } break;
      default: break;
    }
  });

  document.addEventListener("click", function (event) {
    var back = event.target.closest && event.target.closest("[data-back]");
    if (back && window.history.length > 1) { event.preventDefault(); window.history.back(); return; }
    var row = event.target.closest && event.target.closest("tr[data-href]");
    if (row && !event.target.closest("a, button, input, select")) { window.location.href = row.getAttribute("data-href"); }
  });

  function linkChart() {
    var box = document.getElementById("link-chart");
    if (!box || typeof window.cytoscape !== "function") { return; }
    fetch(box.getAttribute("data-graph"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (graph) {
        var cy = window.cytoscape({
          container: box,
          elements: graph.elements,
          layout: { name: "cose", animate: false, randomize: false, nodeRepulsion: 9000 },
          style: [
            { selector: "node", style: { label: "data(label)", "font-size": 9, "text-valign": "bottom", "text-margin-y": 3, width: 14, height: 14, "background-color": "#f4a13a", shape: "round-rectangle" } },
            { selector: "node[kind = 'subject']", style: { "background-color": "#14263f", shape: "ellipse", width: 20, height: 20 } },
            { selector: "node[?centre]", style: { "background-color": "#a32121", width: 28, height: 28, "font-weight": "bold" } },
            { selector: "edge", style: { width: 1.5, "line-color": "#b8c1cc", "curve-style": "bezier" } },
            { selector: "edge[kind = 'message']", style: { "line-color": "#3c8d5a", label: "data(label)", "font-size": 8 } },
            { selector: "edge[kind = 'payment']", style: { "line-color": "#8c3cb0", label: "data(label)", "font-size": 8, "target-arrow-shape": "triangle", "target-arrow-color": "#8c3cb0" } }
          ]
        });
        cy.on("tap", "node", function (evt) {
          var href = evt.target.data("href");
          if (href && !evt.target.data("centre")) { window.location.href = href; }
        });
        box.setAttribute("data-ready", "true");
      })
      .catch(function () { box.textContent = "The link chart could not be loaded."; });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", linkChart); } else { linkChart(); }
})();
