/* dangjian-map: a compound's walk to its centre, drawn when its popup opens (2D coverage map).
 *
 * Opening a compound's popup (a click, or a search hit) fetches
 * /collections/compounds/items/{id}/route (config.route, the page's coverage variant and
 * coordinates) and draws the line: white casing, the part within the target minutes solid,
 * the part beyond it dashed red, and a label with the minutes (and how many beyond the
 * target) and the centre.  A compound no centre is reachable from gets a label saying why.
 * Closing the popup removes the route.  DJ.route tells the state: {id, state: "loading" |
 * "drawn" | "none" | "error", feature}.
 */
(function () {
  "use strict";

  var DJ = window.DangjianMap, el = DJ.el;

  /** The point at distance `at` (metres) along latlngs, and the two parts either side of it. */
  function splitAt(map, latlngs, at) {
    var done = 0;
    for (var i = 1; i < latlngs.length; i++) {
      var step = map.distance(latlngs[i - 1], latlngs[i]);
      if (done + step >= at && step > 0) {
        var t = (at - done) / step, a = latlngs[i - 1], b = latlngs[i];
        var p = L.latLng(a.lat + (b.lat - a.lat) * t, a.lng + (b.lng - a.lng) * t);
        return { point: p, before: latlngs.slice(0, i).concat([p]), after: [p].concat(latlngs.slice(i)) };
      }
      done += step;
    }
    var last = latlngs[latlngs.length - 1];
    return { point: last, before: latlngs, after: [] };
  }

  function length(map, latlngs) {
    var sum = 0;
    for (var i = 1; i < latlngs.length; i++) sum += map.distance(latlngs[i - 1], latlngs[i]);
    return sum;
  }

  function label(lines, className) {
    var box = el("div", "dj-route-label " + (className || ""));
    lines.forEach(function (t, i) { box.appendChild(el("div", i ? "dj-route-sub" : "dj-route-main", t)); });
    return L.divIcon({ className: "dj-route-icon", html: box, iconSize: null });
  }

  DJ.addRoute = function (ctx) {
    var map = ctx.map, W = ctx.W, S = ctx.S.route, fmt = ctx.fmt, cfg = ctx.cfg;
    var pane = map.createPane("dj-route");
    pane.style.zIndex = 420;
    pane.style.pointerEvents = "none";
    var renderer = L.svg({ pane: "dj-route", padding: 0.5 });
    var group = L.layerGroup().addTo(map);
    var seq = 0;
    DJ.route = null;

    function clear() {
      group.clearLayers();
      DJ.route = null;
      document.documentElement.removeAttribute("data-dj-route");
    }

    function draw(f, anchor) {
      var p = f.properties, g = f.geometry;
      if (!g) {
        var reason = W["flag." + p.unreachable] || p.unreachable || W["map.gap.unreachable"];
        L.marker(anchor, { pane: "dj-labels", interactive: false, keyboard: false, icon: label([DJ.fill(W["map.route.none"], { reason: reason })], "dj-route-none") }).addTo(group);
        return "none";
      }
      var latlngs = g.coordinates.map(function (c) { return L.latLng(c[1], c[0]); });
      var total = length(map, latlngs);
      // the target's metres: the walk's metres per minute times the target minutes
      var within = p.covered || !(p.walk_min > 0) || !p.minutes ? total : total * Math.min(1, p.minutes / p.walk_min);
      var parts = splitAt(map, latlngs, within);
      var common = { pane: "dj-route", renderer: renderer, interactive: false, lineCap: "round", lineJoin: "round" };
      L.polyline(latlngs, L.extend({}, common, { className: "dj-route-casing", color: S.casing, weight: S.weight + 4, opacity: 0.9 })).addTo(group);
      L.polyline(parts.before, L.extend({}, common, { className: "dj-route", color: S.color, weight: S.weight })).addTo(group);
      if (parts.after.length > 1) {
        L.polyline(parts.after, L.extend({}, common, { className: "dj-route dj-route-beyond", color: S.beyond, weight: S.weight, dashArray: S.dashArray })).addTo(group);
      }
      L.circleMarker(latlngs[0], L.extend({}, common, { radius: 4, color: S.color, weight: 2, fillColor: "#fff", fillOpacity: 1 })).addTo(group);
      var main = DJ.fill(W["map.route.label"], { minutes: fmt.num(p.walk_min, 1) });
      var over = DJ.minutesOver({ state: p.covered ? "covered" : "uncovered", walk_min: p.walk_min }, p.minutes);
      if (over !== null && over !== Infinity) main += " · " + DJ.fill(W["map.gap.over_min"], { minutes: over.toFixed(1) });
      var sub = DJ.fill(W["map.route.to"], { center: p.center ? p.center.name : "", metres: fmt.num(p.walk_m, 0) });
      var mid = splitAt(map, latlngs, total / 2).point;
      L.marker(mid, { pane: "dj-labels", interactive: false, keyboard: false, icon: label([main, sub], p.covered ? "" : "dj-route-over") }).addTo(group);
      return "drawn";
    }

    /** Fetch and draw the walk of compound `id` (the popup's anchor shows an unreachable compound's reason). */
    DJ.showRoute = function (id, anchor) {
      var mine = ++seq;
      clear();
      DJ.route = { id: id, state: "loading", feature: null };
      var url = cfg.route.replace("{id}", encodeURIComponent(id));
      return DJ.getJSON(url)
        .then(function (f) {
          if (mine !== seq) return;
          DJ.route = { id: id, state: draw(f, anchor), feature: f };
          document.documentElement.setAttribute("data-dj-route", id);
        })
        .catch(function (err) {
          if (mine !== seq) return;
          DJ.route = { id: id, state: "error", feature: null };
          L.marker(anchor, { pane: "dj-labels", interactive: false, keyboard: false, icon: label([W["map.route.error"]], "dj-route-none") }).addTo(group);
          console.warn("dangjian-map: route " + id + ": " + err.message);
        });
    };

    /** Draw the route while a compound's popup is open (a click or a search hit opens it). */
    DJ.routeOnPopup = function (lyr, id) {
      lyr.on("popupopen", function () { DJ.showRoute(id, lyr.getBounds().getCenter()); });
      lyr.on("popupclose", function () {
        if (DJ.route && DJ.route.id === id) {
          seq++;
          clear();
        }
      });
    };
  };
})();
