/* dangjian-map: community labels that never sit under a centre marker (2D map; placeApart serves the 3D map too).
 *
 * After every zoom (and when layers arrive or are switched) each label is tried at its place,
 * then below, above, right and left of it; it takes the first spot that overlaps no visible
 * centre marker and no label placed before it, or is dropped (markers have priority).
 */
(function () {
  "use strict";

  var DJ = window.DangjianMap;
  var PAD = 2;  // px kept free around markers and labels

  function visible(node) {
    return node.offsetParent !== null && getComputedStyle(node).visibility !== "hidden";
  }

  function box(node) {
    var r = node.getBoundingClientRect();
    return { left: r.left - PAD, top: r.top - PAD, right: r.right + PAD, bottom: r.bottom + PAD };
  }

  function overlaps(a, b) {
    return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  }

  function shifted(r, dx, dy) {
    return { left: r.left + dx, top: r.top + dy, right: r.right + dx, bottom: r.bottom + dy };
  }

  /** Nudge each visible label (by its margins) to the first spot of a few around it that overlaps none of the
   * `taken` rects (page px) nor a label placed before it, or hide it (class dj-label-dropped); markers win. */
  DJ.placeApart = function (nodes, taken) {
    var report = { placed: 0, moved: 0, dropped: 0 };
    taken = taken.slice();
    nodes.forEach(function (s) {
      s.style.marginLeft = s.style.marginTop = "0px";
      s.classList.remove("dj-label-dropped");
    });
    nodes.forEach(function (s) {
      if (!visible(s)) return;
      var r = box(s), w = r.right - r.left, h = r.bottom - r.top;
      var tries = [[0, 0], [0, h * 0.9], [0, -h * 0.9], [w * 0.6 + 8, 0], [-w * 0.6 - 8, 0], [0, h * 1.8], [0, -h * 1.8]];
      for (var i = 0; i < tries.length; i++) {
        var cand = shifted(r, tries[i][0], tries[i][1]);
        if (!taken.some(function (t) { return overlaps(cand, t); })) {
          s.style.marginLeft = tries[i][0] + "px";
          s.style.marginTop = tries[i][1] + "px";
          taken.push(cand);
          report[i ? "moved" : "placed"] += 1;
          return;
        }
      }
      s.classList.add("dj-label-dropped");
      report.dropped += 1;
    });
    return report;
  };

  /** The page rect of each visible node, a few px grown. */
  DJ.visibleBoxes = function (nodes) {
    return Array.prototype.filter.call(nodes, visible).map(box);
  };

  DJ.addLabels = function (ctx) {
    var map = ctx.map, container = map.getContainer(), pending = false;

    function byZoom() {
      var z = map.getZoom();
      container.classList.toggle("dj-hide-labels", z < 13);
      // a city-wide view: compound-level stations only when zoomed in
      container.classList.toggle("dj-hide-small", z < 13.5 && (DJ.counts.centers || 0) > 150);
    }

    function markers() {
      return DJ.visibleBoxes(container.querySelectorAll(".leaflet-marker-icon.dj-center"));
    }

    function place() {
      pending = false;
      DJ.labels = DJ.placeApart(Array.prototype.slice.call(container.querySelectorAll(".dj-label span")), markers());
    }

    function schedule() {
      if (pending) return;
      pending = true;
      requestAnimationFrame(place);
    }

    /** Labels that overlap a visible centre marker now (the browser test expects none). */
    DJ.labelCollisions = function () {
      var ms = markers();
      return Array.prototype.filter.call(container.querySelectorAll(".dj-label span"), visible)
        .filter(function (s) {
          var r = s.getBoundingClientRect(), b = { left: r.left, top: r.top, right: r.right, bottom: r.bottom };
          return ms.some(function (m) { return overlaps(b, shifted({ left: m.left + PAD, top: m.top + PAD, right: m.right - PAD, bottom: m.bottom - PAD }, 0, 0)); });
        })
        .map(function (s) { return s.textContent; });
    };
    DJ.placeLabels = place;

    map.on("zoomend", function () { byZoom(); schedule(); });
    map.on("overlayadd overlayremove resize", schedule);
    ctx.onData(function (name) {
      byZoom();
      if (name === null || name === "centers" || name === "boundary") schedule();
    });
    byZoom();
  };
})();
