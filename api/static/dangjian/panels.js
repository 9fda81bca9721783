/* dangjian-map: the 2D map's panels: title card, search, legend (only the layers that are on) and the gap list.
 *
 * Each add*(ctx) puts one Leaflet control on the map of the context map.js made.  The legend
 * rebuilds itself whenever a layer is switched on or off; the gap panel lists the largest
 * uncovered compounds (by households) and zooms to one on click.
 */
(function () {
  "use strict";

  var DJ = window.DangjianMap, el = DJ.el;

  function control(ctx, position, build) {
    var C = L.Control.extend({ options: { position: position }, onAdd: build });
    var c = new C();
    c.addTo(ctx.map);
    return c;
  }

  function quiet(box) {
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    return box;
  }

  /** Show one searchable item: switch its layer on, move there, open its popup. */
  DJ.focusItem = function (ctx, item) {
    var map = ctx.map, g = ctx.groups[item.group];
    if (g && !map.hasLayer(g)) map.addLayer(g);
    // Open the popup once the map has arrived (an animated move would otherwise close it).
    map.once("moveend", function () { item.layer.openPopup(); });
    if (item.layer.getBounds) map.fitBounds(item.layer.getBounds(), { maxZoom: 17, padding: [40, 40] });
    else map.setView(item.layer.getLatLng(), Math.max(map.getZoom(), 16));
    DJ.refreshLegend();
  };

  DJ.addTitle = function (ctx) {
    if (!ctx.cfg.title) return;
    control(ctx, "topleft", function () {
      var box = DJ.titleCard(ctx.cfg.title);
      L.DomEvent.disableClickPropagation(box);
      box.appendChild(el("div", "dj-print-date", DJ.fill(ctx.W["map.print.date"], { date: ctx.fmt.date(new Date()) })));
      return box;
    });
  };

  DJ.addSearch = function (ctx) {
    var W = ctx.W;
    control(ctx, "topright", function () {
      var box = quiet(el("div", "dj-search"));
      var input = el("input");
      input.type = "search";
      input.placeholder = W["map.search"];
      input.setAttribute("aria-label", W["map.search"]);
      var list = el("ul", "dj-search-results");
      box.appendChild(input);
      box.appendChild(list);
      function choose(item) {
        DJ.focusItem(ctx, item);
        setTimeout(function () { list.textContent = ""; }, 0);
      }
      function update() {
        var q = input.value.trim().toLowerCase();
        list.textContent = "";
        if (!q) return [];
        var hits = DJ.index.filter(function (it) { return it.name.toLowerCase().indexOf(q) >= 0; }).slice(0, 8);
        if (!hits.length) list.appendChild(el("li", "dj-search-none", W["map.search.none"]));
        hits.forEach(function (it) {
          var li = el("li", "dj-search-hit");
          li.appendChild(el("span", "dj-search-name", it.name));
          li.appendChild(el("span", "dj-search-kind", it.kind));
          li.addEventListener("click", function () { choose(it); });
          list.appendChild(li);
        });
        return hits;
      }
      input.addEventListener("input", update);
      input.addEventListener("keydown", function (e) {
        if (e.key === "Enter") {
          var hits = update();
          if (hits.length) choose(hits[0]);
        } else if (e.key === "Escape") {
          input.value = "";
          list.textContent = "";
        }
      });
      DJ.search = function (q) { input.value = q; return update().map(function (h) { return h.name; }); };
      return box;
    });
  };

  /** Which layers are on now (a layer the page has no group for counts as off). */
  function shown(ctx) {
    var on = {};
    Object.keys(ctx.groups).forEach(function (k) { on[k] = ctx.map.hasLayer(ctx.groups[k]); });
    return on;
  }

  DJ.addLegend = function (ctx) {
    var cfg = ctx.cfg, lg = cfg.legend, S = ctx.S, W = ctx.W, body;
    function section(title) {
      body.appendChild(el("div", "dj-legend-section", title));
    }
    function row(swatch, label, key, parent) {
      var r = el("div", "dj-legend-row");
      if (key) r.setAttribute("data-legend", key);
      r.appendChild(swatch);
      r.appendChild(el("span", null, label));
      (parent || body).appendChild(r);
    }
    function grid() {
      return body.appendChild(el("div", "dj-legend-grid"));
    }
    function swatch(className, style) {
      var sw = el("span", "dj-sw " + className);
      Object.keys(style || {}).forEach(function (k) { sw.style[k] = style[k]; });
      return sw;
    }
    function ramp(colours, ticks) {
      var bar = el("div", "dj-ramp");
      bar.style.background = DJ.rampGradient(colours);
      body.appendChild(bar);
      var t = el("div", "dj-ramp-ticks");
      ticks.forEach(function (s) { t.appendChild(el("span", null, s)); });
      body.appendChild(t);
    }
    function line(colour, dash, width) {
      return swatch("dj-sw-line", { borderTop: (width || 2) + "px " + (dash ? "dashed" : "solid") + " " + colour });
    }
    var sections = {
      compounds: function () {
        section(lg.compounds);
        ["covered", "covered_no_org"].forEach(function (k) {
          row(swatch("dj-sw-area", { background: S.compounds.fill[k], borderColor: S.compounds.stroke[k] }), W["state." + k], "state-" + k);
        });
        body.appendChild(el("div", "dj-legend-sub", lg.gap));
        var g = S.palette.gap_ramp;
        ramp(g, g.map(function (s, i) { return (i === g.length - 1 ? "≥" : "") + s[0]; }));
        var n = S.compounds.no_party_org;
        row(swatch("dj-sw-area dj-sw-no-org", { borderColor: n.color }), lg.no_org, "no-org");
        if (ctx.map.getContainer().querySelector("path.dj-land")) row(swatch("dj-sw-area dj-sw-land"), lg.land, "land");
      },
      centers: function () {
        section(lg.centers);
        var levels = grid();
        lg.levels.forEach(function (l) {
          var sw = swatch("dj-sw-dot", { background: S.palette.level[l.key] });
          sw.textContent = W["map.glyph." + l.key];
          row(sw, l.label, "level-" + l.key, levels);
        });
        section(lg.status);
        var statuses = grid();
        statuses.classList.add("dj-legend-grid-3");
        lg.statuses.forEach(function (s) {
          row(swatch("dj-sw-dot dj-sw-" + s.key, s.key === "existing" ? { background: "#607d8b" } : { borderColor: "#607d8b" }), s.label, "status-" + s.key, statuses);
        });
      },
      orgs: function () {
        section(lg.party_orgs);
        var types = grid();
        lg.org_types.forEach(function (t) {
          row(swatch("dj-sw-dot dj-sw-org", { background: S.palette.org_type[t.key] }), t.label, "org-" + t.key, types);
        });
      },
      rings: function () {
        section(lg.circles);
        row(swatch("dj-sw-ring" + (lg.network ? " dj-sw-network" : "")), lg.circle_note, "rings");
      },
      lines: function (on) {
        var any = on.boundary || on.units || on.grids;
        if (!any) return;
        section(lg.lines);
        var lines = grid();
        lines.classList.add("dj-legend-grid-3");
        if (on.boundary) {
          ["district", "subdistrict", "community"].forEach(function (k) {
            var b = S.boundary[k];
            row(line(b.color, b.dashArray, Math.min(3, b.weight)), lg.boundary[k], "boundary-" + k, lines);
          });
        }
        if (on.units) row(line(S.units.color, true), W["layer.units"], "units", lines);
        if (on.grids) row(line(S.grids.color, true, 1), W["layer.grids"], "grids", lines);
      },
      cells: function () {
        section(lg.cells);
        ramp(S.palette.coverage_ramp, ["0%", "50%", "100%"]);
      },
    };
    var box;
    function build() {
      var on = shown(ctx);
      body.textContent = "";
      if (on.compounds) sections.compounds();
      if (on.centers) sections.centers();
      if (on.party_orgs) sections.orgs();
      if (on.circles || on.service_areas) sections.rings();
      sections.lines(on);
      if (on.cells) sections.cells();
      box.classList.toggle("dj-legend-empty", !body.childNodes.length);
    }
    control(ctx, "bottomright", function () {
      box = quiet(el("div", "dj-legend"));
      var head = el("div", "dj-legend-head", lg.title);
      head.addEventListener("click", function () { box.classList.toggle("dj-collapsed"); });
      box.appendChild(head);
      body = el("div", "dj-legend-body");
      box.appendChild(body);
      if (cfg.embed) box.classList.add("dj-collapsed");
      return box;
    });
    DJ.refreshLegend = build;
    ctx.map.on("overlayadd overlayremove", build);
    build();
  };

  DJ.addGaps = function (ctx) {
    var W = ctx.W, fmt = ctx.fmt, list, box;
    control(ctx, "topleft", function () {
      box = quiet(el("div", "dj-gaps"));
      var head = el("div", "dj-gaps-head", W["map.gap.title"]);
      head.addEventListener("click", function () { box.classList.toggle("dj-collapsed"); });
      box.appendChild(head);
      list = el("ol", "dj-gaps-list");
      box.appendChild(list);
      box.style.display = "none";
      return box;
    });
    ctx.onData(function (name) {
      if (name !== "compounds") return;
      var items = DJ.index.filter(function (it) { return it.group === "compounds" && (it.properties.state || "uncovered") === "uncovered"; });
      items.sort(function (a, b) { return (b.properties.households || 0) - (a.properties.households || 0); });
      list.textContent = "";
      if (!items.length) list.appendChild(el("li", "dj-gaps-none", W["map.gap.none"]));
      items.slice(0, ctx.cfg.gapRows).forEach(function (it) {
        var p = it.properties, over = DJ.minutesOver(p, ctx.cfg.target);
        var li = el("li", "dj-gap");
        var sw = el("span", "dj-gap-sw");
        sw.style.background = DJ.compoundFill(ctx.S, p, ctx.cfg.target);
        li.appendChild(sw);
        li.appendChild(el("span", "dj-gap-name", it.name));
        li.appendChild(el("span", "dj-gap-figures", DJ.fill(W["map.gap.row"], {
          households: fmt.num(p.households, 0),
          over: over === Infinity ? W["map.gap.unreachable"] : DJ.fill(W["map.gap.over_min"], { minutes: over.toFixed(1) }),
        })));
        li.setAttribute("title", p.community || "");
        li.addEventListener("click", function () { DJ.focusItem(ctx, it); });
        list.appendChild(li);
      });
      box.style.display = "";
    });
  };
})();
