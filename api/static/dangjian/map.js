/* dangjian-map: the 2D coverage map's layers (Leaflet).
 *
 * The page (api/maps/coverage_page.py, folium) creates the Leaflet map and one empty layer
 * group per layer, then calls DangjianMap.init(map, groups, config).  Features are fetched
 * from the service's own /collections endpoints and drawn here; the panels (panels.js),
 * label placement (labels.js), print view (print.js), phone layout (phone.js) and a
 * compound's walk to its centre (route.js) hang off
 * the same context.  Colours come from config.style, the palette the PNG tiles use too.
 */
(function () {
  "use strict";

  var DJ = window.DangjianMap, el = DJ.el, popup = DJ.popup;

  function tooltip(text) {
    return el("span", "dj-tip", text);
  }

  function solid(f) {
    // Walking service areas: the blocks their roads enclose are reached too, so draw them without holes.
    var g = f.geometry;
    if (!g) return f;
    if (g.type === "Polygon") g = { type: "Polygon", coordinates: [g.coordinates[0]] };
    else if (g.type === "MultiPolygon") g = { type: "MultiPolygon", coordinates: g.coordinates.map(function (p) { return [p[0]]; }) };
    return { type: "Feature", id: f.id, properties: f.properties, geometry: g };
  }

  var SVG = "http://www.w3.org/2000/svg";

  /** The hatch pattern of land without compounds (a hidden SVG the land path refers to with CSS fill: url(#dj-hatch)). */
  function hatchPattern() {
    if (document.getElementById("dj-hatch")) return;
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("width", "0");
    svg.setAttribute("height", "0");
    svg.setAttribute("aria-hidden", "true");
    svg.style.position = "absolute";
    var pattern = document.createElementNS(SVG, "pattern");
    [["id", "dj-hatch"], ["patternUnits", "userSpaceOnUse"], ["width", "7"], ["height", "7"], ["patternTransform", "rotate(45)"]].forEach(function (a) {
      pattern.setAttribute(a[0], a[1]);
    });
    var bg = document.createElementNS(SVG, "rect");
    [["width", "7"], ["height", "7"], ["fill", "#eceae6"]].forEach(function (a) { bg.setAttribute(a[0], a[1]); });
    var line = document.createElementNS(SVG, "line");
    [["x1", "0"], ["y1", "0"], ["x2", "0"], ["y2", "7"], ["stroke", "#b8c2c8"], ["stroke-width", "2"]].forEach(function (a) { line.setAttribute(a[0], a[1]); });
    pattern.appendChild(bg);
    pattern.appendChild(line);
    var defs = document.createElementNS(SVG, "defs");
    defs.appendChild(pattern);
    svg.appendChild(defs);
    document.body.appendChild(svg);
  }

  /** The district's land outside every compound, hatched, under the roads: an empty block is visibly not a compound. */
  function land(ctx) {
    var districts = (ctx.features.boundary || []).filter(function (f) { return f.properties.level === "district" && f.geometry; });
    var compounds = ctx.features.compounds || [];
    if (!districts.length || !ctx.groups.compounds) return;
    hatchPattern();
    var holes = [];
    compounds.forEach(function (f) {
      var g = f.geometry;
      if (!g) return;
      (g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : []).forEach(function (p) { holes.push(p[0]); });
    });
    var parts = [];
    districts.forEach(function (f) {
      var g = f.geometry;
      (g.type === "Polygon" ? [g.coordinates] : g.coordinates).forEach(function (p) { parts.push(p[0]); });
    });
    var renderer = L.svg({ pane: "dj-land", padding: 0.5 });
    parts.forEach(function (outer) {
      var xs = outer.map(function (c) { return c[0]; }), ys = outer.map(function (c) { return c[1]; });
      var w = Math.min.apply(null, xs), e = Math.max.apply(null, xs), s = Math.min.apply(null, ys), n = Math.max.apply(null, ys);
      var inside = holes.filter(function (h) { return h[0][0] > w && h[0][0] < e && h[0][1] > s && h[0][1] < n; });
      // even-odd fill: the compounds' rings cut holes into the district's
      L.polygon(L.GeoJSON.coordsToLatLngs([outer].concat(inside), 1), {
        pane: "dj-land", renderer: renderer, interactive: false, stroke: false, className: "dj-land", fillColor: "#d5dadd", fillOpacity: 1,
      }).addTo(ctx.groups.compounds);
    });
    DJ.refreshLegend();
  }

  function makeBuilders(ctx) {
    var map = ctx.map, cfg = ctx.cfg, W = ctx.W, S = ctx.S, fmt = ctx.fmt;

    function renderer(pane, n) {
      return n > cfg.canvasAbove ? L.canvas({ pane: pane, padding: 0.3 }) : L.svg({ pane: pane, padding: 0.3 });
    }

    function areas(features, name, rows) {
      var st = S[name];
      return L.geoJSON(features, {
        pane: "dj-areas",
        renderer: renderer("dj-areas", features.length),
        style: function (f) {
          var empty = f.properties.compounds === 0;  // a unit or grid without compounds: grey, dotted, hatched
          return {
            className: "dj-" + name + (empty ? " dj-empty" : ""), color: empty ? "#90a4ae" : st.color, weight: st.weight,
            dashArray: empty ? "2 4" : st.dashArray, fillColor: st.color, fillOpacity: 0,
          };
        },
        onEachFeature: function (f, lyr) {
          lyr.bindPopup(popup(f.properties.name || W["layer." + name], null, rows(f.properties)));
        },
      });
    }

    function rings(features, name) {
      var st = S[name], colours = S.palette.level;
      if (name === "service_areas") features = features.map(solid);
      features = features.slice().sort(function (a, b) { return (b.properties.minutes || 0) - (a.properties.minutes || 0); });
      var outerMinutes = {};
      features.forEach(function (f) {
        var id = f.properties.center_id;
        outerMinutes[id] = Math.max(outerMinutes[id] || 0, f.properties.minutes || 0);
      });
      return L.geoJSON(features, {
        pane: "dj-circles",
        interactive: false,
        renderer: renderer("dj-circles", features.length),
        style: function (f) {
          // The outermost band of each centre gets the dashed outline; inner bands only deepen the fill.
          var c = colours[f.properties.level] || "#1f6fb4";
          var outer = (f.properties.minutes || 0) >= outerMinutes[f.properties.center_id];
          return {
            className: "dj-" + name, color: c, weight: outer ? st.weight : 0, opacity: outer ? 0.75 : 0,
            dashArray: st.dashArray || null, fillColor: c, fillOpacity: st.fillOpacity,
          };
        },
      });
    }

    return {
      boundary: function (features) {
        var labels = [];
        var layer = L.geoJSON(features, {
          pane: "dj-boundary",
          interactive: false,
          renderer: renderer("dj-boundary", features.length),
          style: function (f) {
            var st = S.boundary[f.properties.level] || S.boundary.community;
            var focus = cfg.focus && f.properties.name === cfg.focus.name && f.properties.level === cfg.focus.level;
            return L.extend({ fill: false, className: "dj-boundary" }, st, focus ? { color: S.palette.level.district, weight: 4, dashArray: null } : {});
          },
          onEachFeature: function (f, lyr) {
            if (f.properties.level === "community" && f.properties.name) labels.push([f.properties.name, lyr.getBounds().getCenter()]);
          },
        });
        labels.forEach(function (l) {
          L.marker(l[1], {
            pane: "dj-labels", interactive: false, keyboard: false,
            icon: L.divIcon({ className: "dj-label", html: el("span", null, l[0]), iconSize: null }),
          }).addTo(layer);
        });
        return layer;
      },
      cells: function (features) {
        var st = S.cells;
        var kind = features.filter(function (f) { return f.properties.kind === cfg.cellKind; });
        if (kind.length) features = kind;
        return L.geoJSON(features, {
          pane: "dj-cells",
          renderer: renderer("dj-cells", features.length),
          style: function (f) {
            var has = f.properties.households > 0, c = f.properties.coverage;
            return {
              className: "dj-cell", color: st.color, weight: st.weight, opacity: has ? 0.7 : 0,
              fillColor: has ? DJ.rampColour(S.palette.coverage_ramp, c === null ? 0 : c) : S.palette.no_households,
              fillOpacity: has ? st.fillOpacity : 0,
            };
          },
          onEachFeature: function (f, lyr) {
            var p = f.properties;
            if (!(p.households > 0)) return;
            lyr.bindPopup(popup(W["layer.cells"], null, [
              [W["field.kind"], W["map.cells." + p.kind] || p.kind],
              [W["field.households"], fmt.num(p.households, 0)],
              [W["field.covered_households"], fmt.num(p.covered_households, 0)],
              [W["field.coverage"], fmt.pct(p.coverage)],
            ]));
          },
        });
      },
      units: function (features) {
        return areas(features, "units", function (p) {
          return [
            [W["field.bounded_by"], p.bounded_by], [W["field.compounds"], fmt.num(p.compounds)], [W["field.households"], fmt.num(p.households)],
            [W["field.coverage"], fmt.pct(p.coverage)], [W["field.orgs"], fmt.num(p.orgs)], [W["field.org_members"], fmt.num(p.org_members)],
            [W["field.alliance_lead"], p.alliance_lead || null], [W["field.alliance_size"], fmt.num(p.alliance_size)],
          ];
        });
      },
      grids: function (features) {
        return areas(features, "grids", function (p) {
          return [
            [W["field.code"], p.code || null], [W["field.parent"], p.parent], [W["field.compounds"], fmt.num(p.compounds)],
            [W["field.households"], fmt.num(p.households)], [W["field.coverage"], fmt.pct(p.coverage)], [W["field.staffing"], p.staffing],
            [W["field.orgs"], fmt.num(p.orgs)], [W["field.grid_branch"], p.grid_branch === undefined ? null : p.grid_branch ? W["yes"] : W["no"]],
          ];
        });
      },
      circles: function (features) {
        return rings(features, "circles");
      },
      service_areas: function (features) {
        return rings(features, "service_areas");
      },
      compounds: function (features) {
        var st = S.compounds, noOrg = st.no_party_org;
        return L.geoJSON(features, {
          pane: "dj-compounds",
          renderer: renderer("dj-compounds", features.length),
          style: function (f) {
            var p = f.properties, s = p.state || "uncovered", org = p.has_party_org !== false;
            var fill = DJ.compoundFill(S, p, cfg.target);
            return {
              className: "dj-compound dj-" + s + (org ? "" : " dj-no-org"), fillColor: fill, fillOpacity: s === "uncovered" ? 0.8 : st.fillOpacity,
              color: org ? st.stroke[s] : noOrg.color, weight: org ? st.weight : noOrg.weight, dashArray: org ? null : noOrg.dashArray,
            };
          },
          onEachFeature: function (f, lyr) {
            var p = f.properties;
            lyr.bindTooltip(tooltip(p.name), { sticky: true, direction: "top", className: "dj-tooltip" });
            lyr.bindPopup(
              DJ.compoundPopup(ctx, p),
              { maxWidth: 320 }
            );
            if (f.id !== undefined && f.id !== null) DJ.routeOnPopup(lyr, String(f.id));
            DJ.index.push({ name: String(p.name || ""), kind: W["map.search.compound"], layer: lyr, group: "compounds", properties: p });
          },
        });
      },
      centers: function (features) {
        var colours = S.palette.level, radius = S.center_radius;
        return L.geoJSON(features, {
          pointToLayer: function (f, latlng) {
            var p = f.properties, r = radius[p.level] || 6, colour = colours[p.level] || "#607d8b";
            var status = p.status || "existing";
            var dot = el("div", "dj-center-dot", W["map.glyph." + p.level] || "");
            dot.style.width = dot.style.height = 2 * r + "px";
            dot.style.lineHeight = 2 * r - 4 + "px";
            dot.style.fontSize = Math.max(9, Math.round(r * 1.05)) + "px";
            if (status === "existing") {
              dot.style.background = colour;
            } else {
              dot.style.borderColor = colour;
              dot.style.color = colour;
            }
            var size = 2 * r + 2;
            return L.marker(latlng, {
              icon: L.divIcon({ className: "dj-center dj-level-" + p.level + " dj-status-" + status, html: dot, iconSize: [size, size], iconAnchor: [size / 2, size / 2] }),
              zIndexOffset: { district: 400, subdistrict: 300, community: 200, compound: 100 }[p.level] || 0,
              riseOnHover: true,
              title: "",
            });
          },
          onEachFeature: function (f, lyr) {
            var p = f.properties;
            lyr.bindTooltip(tooltip(p.name), { direction: "top", offset: [0, -8], className: "dj-tooltip" });
            lyr.bindPopup(
              popup(p.name, { text: W["level." + p.level] + " · " + W["status." + p.status], colour: colours[p.level] || "#607d8b" }, [
                [W["field.level"], W["level." + p.level]],
                [W["field.status"], W["status." + p.status]],
                [W["field.community"], p.community],
              ])
            );
            DJ.index.push({ name: String(p.name || ""), kind: W["map.search.center"], layer: lyr, group: "centers" });
          },
        });
      },
      party_orgs: function (features) {
        var colours = S.palette.org_type, st = S.party_orgs;
        return L.geoJSON(features, {
          pointToLayer: function (f, latlng) {
            var c = colours[f.properties.type] || "#607d8b";
            return L.circleMarker(latlng, {
              pane: "dj-orgs", radius: st.radius, color: st.color, weight: st.weight, fillColor: c, fillOpacity: st.fillOpacity,
              className: "dj-org dj-org-" + f.properties.type,
            });
          },
          onEachFeature: function (f, lyr) {
            var p = f.properties, kind = W["org_type." + p.type] || p.type;
            lyr.bindTooltip(tooltip(p.name), { direction: "top", offset: [0, -6], className: "dj-tooltip" });
            lyr.bindPopup(popup(p.name, { text: kind, colour: colours[p.type] || "#607d8b" }, [
              [W["field.type"], kind],
              [W["field.members"], fmt.num(p.members, 0)],
              [W["field.community"], p.community],
              [W["field.alliance"], p.alliance || null],
            ]));
            DJ.index.push({ name: String(p.name || ""), kind: W["layer.party_orgs"], layer: lyr, group: "party_orgs" });
          },
        });
      },
    };
  }

  function init(map, groups, cfg) {
    var W = cfg.words;
    var ctx = { map: map, groups: groups, cfg: cfg, W: W, S: cfg.style, fmt: DJ.formats(cfg.lang), features: {}, listeners: [] };
    /** Call fn(name, features) whenever a layer's features arrive. */
    ctx.onData = function (fn) { ctx.listeners.push(fn); };
    DJ.ctx = ctx;

    // panes: hatched land under the context tiles; cells under areas under circles under compounds; boundary lines above
    [["dj-land", 150], ["dj-cells", 402], ["dj-areas", 404], ["dj-circles", 406], ["dj-compounds", 410], ["dj-boundary", 415], ["dj-orgs", 420], ["dj-labels", 590]].forEach(function (p) {
      var pane = map.createPane(p[0]);
      pane.style.zIndex = p[1];
      if (p[0] === "dj-boundary" || p[0] === "dj-labels" || p[0] === "dj-land") pane.style.pointerEvents = "none";
    });
    var builders = makeBuilders(ctx);

    DJ.addTitle(ctx);
    L.control.zoom({ position: "topleft", zoomInTitle: "+", zoomOutTitle: "-" }).addTo(map);
    if (L.control.fullscreen) {
      L.control.fullscreen({ position: "topleft", title: W["map.fullscreen"], titleCancel: W["map.exit_fullscreen"], forceSeparateButton: true }).addTo(map);
    }
    DJ.addPrint(ctx);
    L.control.scale({ position: "bottomleft", metric: true, imperial: false, maxWidth: 160 }).addTo(map);
    DJ.addSearch(ctx);
    DJ.addLegend(ctx);
    DJ.addGaps(ctx);
    DJ.addLabels(ctx);
    if (DJ.addPhone) DJ.addPhone(ctx);
    DJ.addRoute(ctx);
    ctx.onData(function (name) { if (name === null) land(ctx); });

    var status = el("div", "dj-status");
    map.getContainer().appendChild(status);

    // Fit the district into the part of the map the title card and legend leave free.
    function fit() {
      if (!cfg.bounds) return;
      var c = map.getContainer(), size = map.getSize();
      var left = 16, right = 16, top = 16, bottom = 16;
      var title = c.querySelector(".dj-title"), legend = c.querySelector(".dj-legend"), layers = c.querySelector(".leaflet-control-layers");
      if (title && size.x > 900) left = title.offsetWidth + 30;
      if (size.x > 900) right = Math.max(legend ? legend.offsetWidth : 0, layers ? layers.offsetWidth : 0) + 26;
      var bar = c.querySelector(".dj-phone-bar"), sheet = c.querySelector(".dj-sheet");
      if (bar && bar.offsetHeight) top = bar.offsetHeight + 8;
      if (sheet && sheet.offsetHeight) bottom = sheet.offsetHeight + 8;
      map.fitBounds(cfg.bounds, { paddingTopLeft: [left, top], paddingBottomRight: [right, bottom], animate: false });
    }
    DJ.fit = fit;
    setTimeout(fit, 0);

    var jobs = cfg.layers.map(function (spec) {
      return DJ.loadAll(spec.url)
        .then(function (features) {
          builders[spec.name](features).addTo(groups[spec.name]);
          DJ.counts[spec.name] = features.length;
          ctx.features[spec.name] = features;
          ctx.listeners.forEach(function (fn) { fn(spec.name, features); });
          return spec.name;
        })
        .catch(function (err) {
          DJ.errors.push(spec.name);
          status.appendChild(el("div", null, DJ.fill(W["map.load_error"], { layer: W["layer." + spec.name] || spec.name })));
          console.error("dangjian-map: " + spec.name + ": " + err.message);
        });
    });
    DJ.ready = Promise.all(jobs).then(function () {
      DJ.loaded = true;
      ctx.listeners.forEach(function (fn) { fn(null, null); });
      document.documentElement.setAttribute("data-dj-ready", "1");
      return DJ.counts;
    });
  }

  DJ.init = init;
})();
