/* dangjian-map: the print view of the 2D map (A4 or A3 landscape, for meetings).
 *
 * The print control sizes the map to the printable area of the sheet (8 mm margins), fits the
 * district again, waits for the tiles and opens the browser's print dialog.  The print style
 * (map.css, @media print) keeps the title card, the legend of the layers that are on, the
 * scale bar, a north arrow and the date, and hides the buttons, search and lists.
 */
(function () {
  "use strict";

  var DJ = window.DangjianMap, el = DJ.el;
  var SVG = "http://www.w3.org/2000/svg";
  var SIZES = { a4: "A4 landscape", a3: "A3 landscape" };

  function northArrow(letter) {
    var box = el("div", "dj-north");
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 40 56");
    svg.setAttribute("width", "34");
    svg.setAttribute("height", "48");
    [["M20 4 L32 40 L20 32 Z", "#263238"], ["M20 4 L8 40 L20 32 Z", "#ffffff"]].forEach(function (p) {
      var path = document.createElementNS(SVG, "path");
      path.setAttribute("d", p[0]);
      path.setAttribute("fill", p[1]);
      path.setAttribute("stroke", "#263238");
      path.setAttribute("stroke-width", "1.5");
      path.setAttribute("stroke-linejoin", "round");
      svg.appendChild(path);
    });
    var t = document.createElementNS(SVG, "text");
    t.setAttribute("x", "20");
    t.setAttribute("y", "54");
    t.setAttribute("text-anchor", "middle");
    t.setAttribute("font-size", "13");
    t.setAttribute("font-weight", "700");
    t.setAttribute("fill", "#263238");
    t.textContent = letter;
    svg.appendChild(t);
    box.appendChild(svg);
    return box;
  }

  function pageStyle() {
    var s = document.getElementById("dj-page-size");
    if (!s) {
      s = el("style");
      s.id = "dj-page-size";
      document.head.appendChild(s);
    }
    return s;
  }

  function tilesLoaded(map, ms) {
    var waits = [];
    map.eachLayer(function (l) {
      if (l instanceof L.TileLayer && l.isLoading && l.isLoading()) {
        waits.push(new Promise(function (resolve) { l.once("load", resolve); }));
      }
    });
    return Promise.race([Promise.all(waits), new Promise(function (resolve) { setTimeout(resolve, ms); })]);
  }

  DJ.addPrint = function (ctx) {
    var map = ctx.map, W = ctx.W, root = document.documentElement, sized = false;

    function setSize(size) {
      root.classList.remove("dj-print-a4", "dj-print-a3");
      root.classList.add("dj-print", "dj-print-" + size);
      pageStyle().textContent = "@page { size: " + SIZES[size] + "; margin: 8mm; }";
      map.invalidateSize({ animate: false, pan: false });
      if (DJ.fit) DJ.fit();
      if (DJ.refreshLegend) DJ.refreshLegend();
      sized = true;
    }

    /** Lay the map out for printing on `size` ("a4" or "a3", landscape); resolves once its tiles are in. */
    DJ.preparePrint = function (size) {
      setSize(SIZES[size] ? size : "a4");
      return tilesLoaded(map, 2000);
    };
    /** Back to the screen layout. */
    DJ.endPrint = function () {
      if (!sized) return;
      sized = false;
      root.classList.remove("dj-print", "dj-print-a4", "dj-print-a3");
      map.invalidateSize({ animate: false, pan: false });
      if (DJ.fit) DJ.fit();
    };
    window.addEventListener("beforeprint", function () { if (!sized) setSize("a4"); });
    window.addEventListener("afterprint", DJ.endPrint);

    var Print = L.Control.extend({
      options: { position: "topleft" },
      onAdd: function () {
        var bar = el("div", "leaflet-bar dj-print-control");
        L.DomEvent.disableClickPropagation(bar);
        bar.appendChild(el("span", "dj-print-label", W["map.print"]));
        Object.keys(SIZES).forEach(function (size) {
          var a = el("a", "dj-print-" + size, W["map.print." + size]);
          a.href = "#";
          a.setAttribute("role", "button");
          a.title = W["map.print"] + " " + W["map.print." + size];
          a.addEventListener("click", function (e) {
            e.preventDefault();
            DJ.preparePrint(size).then(function () { window.print(); });
          });
          bar.appendChild(a);
        });
        return bar;
      },
    });
    new Print().addTo(map);

    var North = L.Control.extend({
      options: { position: "bottomleft" },
      onAdd: function () { return northArrow(W["map.north"]); },
    });
    new North().addTo(map);
  };
})();
