/* dangjian-map: the coverage map's layers, popups, legend, search and title card.
 *
 * The page (api/maps.py, folium) creates the Leaflet map and one empty layer group per
 * layer, then calls DangjianMap.init(map, groups, config).  Features are fetched from the
 * service's own /collections endpoints; names from the data only ever reach the page
 * through textContent (never innerHTML), so a compound called "<img src=x onerror=...>"
 * shows as text.  Colours come from config.style, the palette the PNG tiles use too.
 */
(function () {
  "use strict";

  var DJ = (window.DangjianMap = { counts: {}, loaded: false, errors: [], index: [] });

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function fill(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (m, k) {
      return values[k] === undefined ? m : values[k];
    });
  }

  function hexRgb(h) {
    h = h.replace("#", "");
    return [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
  }

  function rampColour(ramp, share) {
    var s = Math.max(0, Math.min(1, share));
    for (var i = 1; i < ramp.length; i++) {
      if (s <= ramp[i][0] || i === ramp.length - 1) {
        var a = ramp[i - 1], b = ramp[i];
        var t = b[0] === a[0] ? 0 : (s - a[0]) / (b[0] - a[0]);
        var ca = hexRgb(a[1]), cb = hexRgb(b[1]);
        var c = [0, 1, 2].map(function (k) { return Math.round(ca[k] + (cb[k] - ca[k]) * t); });
        return "rgb(" + c.join(",") + ")";
      }
    }
    return ramp[ramp.length - 1][1];
  }

  function sameOrigin(href) {
    try {
      var u = new URL(href, window.location.href);
      return u.pathname + u.search;
    } catch (e) {
      return href;
    }
  }

  function loadAll(url) {
    return fetch(url, { credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status + " " + url);
        return r.json();
      })
      .then(function (fc) {
        var next = (fc.links || []).filter(function (l) { return l.rel === "next"; })[0];
        if (!next) return fc.features;
        return loadAll(sameOrigin(next.href)).then(function (rest) { return fc.features.concat(rest); });
      });
  }

  function init(map, groups, cfg) {
    var W = cfg.words, S = cfg.style, nf = new Intl.NumberFormat(cfg.lang === "zh" ? "zh-CN" : "en-GB");

    function num(v, digits) {
      if (v === null || v === undefined || v === "" || (typeof v === "number" && isNaN(v))) return null;
      if (typeof v !== "number") return String(v);
      return digits === undefined ? nf.format(v) : nf.format(Number(v.toFixed(digits)));
    }
    function pct(v) {
      return v === null || v === undefined || isNaN(v) ? null : (v * 100).toFixed(1) + "%";
    }
    function flags(codes) {
      if (!codes) return null;
      return String(codes).split(",").filter(Boolean).map(function (c) { return W["flag." + c] || c; }).join(W["map.list_sep"]);
    }

    function popup(title, badge, rows) {
      var box = el("div", "dj-popup");
      box.appendChild(el("div", "dj-popup-title", title));
      if (badge) {
        var b = el("span", "dj-badge", badge.text);
        b.style.background = badge.colour;
        box.appendChild(b);
      }
      var table = el("table");
      rows.forEach(function (r) {
        if (r[1] === null || r[1] === undefined || r[1] === "") return;
        var tr = el("tr");
        tr.appendChild(el("th", null, r[0]));
        tr.appendChild(el("td", null, r[1]));
        table.appendChild(tr);
      });
      box.appendChild(table);
      return box;
    }

    function tooltip(text) {
      return el("span", "dj-tip", text);
    }

    // ---- panes: analysis cells under areas under circles under compounds; boundary lines above
    [["dj-cells", 402], ["dj-areas", 404], ["dj-circles", 406], ["dj-compounds", 410], ["dj-boundary", 415], ["dj-labels", 590]].forEach(function (p) {
      var pane = map.createPane(p[0]);
      pane.style.zIndex = p[1];
      if (p[0] === "dj-boundary" || p[0] === "dj-labels") pane.style.pointerEvents = "none";
    });

    function renderer(pane, n) {
      return n > cfg.canvasAbove ? L.canvas({ pane: pane, padding: 0.3 }) : L.svg({ pane: pane, padding: 0.3 });
    }

    var builders = {
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
            pane: "dj-labels",
            interactive: false,
            keyboard: false,
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
            var has = f.properties.households > 0;
            var c = f.properties.coverage;
            return {
              className: "dj-cell",
              color: st.color,
              weight: st.weight,
              opacity: has ? 0.7 : 0,
              fillColor: has ? rampColour(S.palette.coverage_ramp, c === null ? 0 : c) : S.palette.no_households,
              fillOpacity: has ? st.fillOpacity : 0,
            };
          },
          onEachFeature: function (f, lyr) {
            var p = f.properties;
            if (!(p.households > 0)) return;
            lyr.bindPopup(
              popup(W["layer.cells"], null, [
                [W["field.kind"], W["map.cells." + p.kind] || p.kind],
                [W["field.households"], num(p.households, 0)],
                [W["field.covered_households"], num(p.covered_households, 0)],
                [W["field.coverage"], pct(p.coverage)],
              ])
            );
          },
        });
      },
      units: function (features) {
        return areas(features, "units", function (p) {
          return [
            [W["field.bounded_by"], p.bounded_by],
            [W["field.compounds"], num(p.compounds)],
            [W["field.households"], num(p.households)],
            [W["field.coverage"], pct(p.coverage)],
          ];
        });
      },
      grids: function (features) {
        return areas(features, "grids", function (p) {
          return [
            [W["field.parent"], p.parent],
            [W["field.compounds"], num(p.compounds)],
            [W["field.households"], num(p.households)],
            [W["field.coverage"], pct(p.coverage)],
            [W["field.staffing"], p.staffing],
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
        var st = S.compounds;
        return L.geoJSON(features, {
          pane: "dj-compounds",
          renderer: renderer("dj-compounds", features.length),
          style: function (f) {
            var s = f.properties.state || "uncovered";
            return { className: "dj-compound dj-" + s, color: st.stroke[s], weight: st.weight, fillColor: st.fill[s], fillOpacity: st.fillOpacity };
          },
          onEachFeature: function (f, lyr) {
            var p = f.properties, s = p.state || "uncovered";
            lyr.bindTooltip(tooltip(p.name), { sticky: true, direction: "top", className: "dj-tooltip" });
            lyr.bindPopup(
              popup(p.name, { text: W["state." + s], colour: st.fill[s] }, [
                [W["field.households"], num(p.households, 0)],
                [W["field.population"], num(p.population, 0)],
                [W["field.community"], p.community],
                [W["field.has_party_org"], p.has_party_org ? W["yes"] : W["no"]],
                [W["field.nearest_center"], p.nearest_center_name],
                [W["field.walk_min"], num(p.walk_min, 1)],
                [W["field.walk_m"], num(p.walk_m, 0)],
                [W["field.flags"], flags(p.flags)],
              ]),
              { maxWidth: 320 }
            );
            DJ.index.push({ name: String(p.name || ""), kind: W["map.search.compound"], layer: lyr, group: "compounds" });
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
    };

    function areas(features, name, rows) {
      var st = S[name];
      return L.geoJSON(features, {
        pane: "dj-areas",
        renderer: renderer("dj-areas", features.length),
        style: function () {
          return { className: "dj-" + name, color: st.color, weight: st.weight, dashArray: st.dashArray, fillColor: st.color, fillOpacity: 0 };
        },
        onEachFeature: function (f, lyr) {
          lyr.bindPopup(popup(f.properties.name || W["layer." + name], null, rows(f.properties)));
        },
      });
    }

    function solid(f) {
      // Walking service areas: the blocks their roads enclose are reached too, so draw them without holes.
      var g = f.geometry;
      if (!g) return f;
      if (g.type === "Polygon") g = { type: "Polygon", coordinates: [g.coordinates[0]] };
      else if (g.type === "MultiPolygon") g = { type: "MultiPolygon", coordinates: g.coordinates.map(function (p) { return [p[0]]; }) };
      return { type: "Feature", id: f.id, properties: f.properties, geometry: g };
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
            className: "dj-" + name,
            color: c,
            weight: outer ? st.weight : 0,
            opacity: outer ? 0.75 : 0,
            dashArray: st.dashArray || null,
            fillColor: c,
            fillOpacity: st.fillOpacity,
          };
        },
      });
    }

    // ---- controls
    if (cfg.title) {
      var Title = L.Control.extend({
        options: { position: "topleft" },
        onAdd: function () {
          var t = cfg.title, box = el("div", "dj-title");
          L.DomEvent.disableClickPropagation(box);
          box.appendChild(el("div", "dj-title-name", t.name));
          box.appendChild(el("div", "dj-title-sub", t.subtitle));
          var kpis = el("div", "dj-kpis");
          t.kpis.forEach(function (k) {
            var cell = el("div", "dj-kpi dj-kpi-" + k.tone);
            cell.appendChild(el("div", "dj-kpi-value", k.value));
            cell.appendChild(el("div", "dj-kpi-label", k.label));
            cell.appendChild(el("div", "dj-kpi-sub", k.sub));
            kpis.appendChild(cell);
          });
          box.appendChild(kpis);
          box.appendChild(el("div", "dj-title-note", t.note));
          if (t.focus) box.appendChild(el("div", "dj-title-focus", t.focus));
          if (t.scenario) box.appendChild(el("div", "dj-title-focus", t.scenario));
          return box;
        },
      });
      new Title().addTo(map);
    }
    L.control.zoom({ position: "topleft", zoomInTitle: "+", zoomOutTitle: "-" }).addTo(map);
    if (L.control.fullscreen) {
      L.control.fullscreen({ position: "topleft", title: W["map.fullscreen"], titleCancel: W["map.exit_fullscreen"], forceSeparateButton: true }).addTo(map);
    }
    L.control.scale({ position: "bottomleft", metric: true, imperial: false, maxWidth: 160 }).addTo(map);

    var Search = L.Control.extend({
      options: { position: "topright" },
      onAdd: function () {
        var box = el("div", "dj-search");
        var input = el("input");
        input.type = "search";
        input.placeholder = W["map.search"];
        input.setAttribute("aria-label", W["map.search"]);
        var list = el("ul", "dj-search-results");
        box.appendChild(input);
        box.appendChild(list);
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        function choose(item) {
          var g = groups[item.group];
          if (g && !map.hasLayer(g)) map.addLayer(g);
          // Open the popup once the map has arrived (an animated move would otherwise close it).
          map.once("moveend", function () { item.layer.openPopup(); });
          if (item.layer.getBounds) map.fitBounds(item.layer.getBounds(), { maxZoom: 17, padding: [40, 40] });
          else map.setView(item.layer.getLatLng(), Math.max(map.getZoom(), 16));
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
      },
    });
    new Search().addTo(map);

    var Legend = L.Control.extend({
      options: { position: "bottomright" },
      onAdd: function () {
        var lg = cfg.legend, box = el("div", "dj-legend");
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        var head = el("div", "dj-legend-head", lg.title);
        head.addEventListener("click", function () { box.classList.toggle("dj-collapsed"); });
        box.appendChild(head);
        var body = el("div", "dj-legend-body");
        box.appendChild(body);
        function section(title) {
          body.appendChild(el("div", "dj-legend-section", title));
        }
        function row(swatch, label) {
          var r = el("div", "dj-legend-row");
          r.appendChild(swatch);
          r.appendChild(el("span", null, label));
          body.appendChild(r);
        }
        section(lg.compounds);
        lg.states.forEach(function (s) {
          var sw = el("span", "dj-sw dj-sw-area");
          sw.style.background = S.compounds.fill[s.key];
          sw.style.borderColor = S.compounds.stroke[s.key];
          row(sw, s.label);
        });
        section(lg.centers);
        lg.levels.forEach(function (l) {
          var sw = el("span", "dj-sw dj-sw-dot", W["map.glyph." + l.key]);
          sw.style.background = S.palette.level[l.key];
          row(sw, l.label);
        });
        section(lg.status);
        lg.statuses.forEach(function (s) {
          var sw = el("span", "dj-sw dj-sw-dot dj-sw-" + s.key);
          if (s.key === "existing") sw.style.background = "#607d8b";
          else sw.style.borderColor = "#607d8b";
          row(sw, s.label);
        });
        section(lg.circles);
        var cs = el("span", "dj-sw dj-sw-ring" + (lg.network ? " dj-sw-network" : ""));
        row(cs, lg.circle_note);
        section(lg.cells);
        var ramp = el("div", "dj-ramp");
        ramp.style.background = "linear-gradient(to right," + S.palette.coverage_ramp.map(function (s) { return s[1] + " " + s[0] * 100 + "%"; }).join(",") + ")";
        body.appendChild(ramp);
        var ticks = el("div", "dj-ramp-ticks");
        ["0%", "50%", "100%"].forEach(function (t) { ticks.appendChild(el("span", null, t)); });
        body.appendChild(ticks);
        if (cfg.embed) box.classList.add("dj-collapsed");
        return box;
      },
    });
    new Legend().addTo(map);

    var status = el("div", "dj-status");
    map.getContainer().appendChild(status);

    function labelsByZoom() {
      var c = map.getContainer(), z = map.getZoom();
      c.classList.toggle("dj-hide-labels", z < 13);
      c.classList.toggle("dj-hide-small", z < 13.5 && (DJ.counts.centers || 0) > 150);  // a city-wide view: compound-level stations only when zoomed in
    }
    map.on("zoomend", labelsByZoom);
    labelsByZoom();

    // Fit the district into the part of the map the title card and legend leave free.
    function fit() {
      if (!cfg.bounds) return;
      var c = map.getContainer(), size = map.getSize();
      var left = 16, right = 16, top = 16;
      var title = c.querySelector(".dj-title"), legend = c.querySelector(".dj-legend"), layers = c.querySelector(".leaflet-control-layers");
      if (title && size.x > 900) left = title.offsetWidth + 30;
      if (size.x > 900) right = Math.max(legend ? legend.offsetWidth : 0, layers ? layers.offsetWidth : 0) + 26;
      map.fitBounds(cfg.bounds, { paddingTopLeft: [left, top], paddingBottomRight: [right, 16] });
    }
    DJ.fit = fit;
    setTimeout(fit, 0);

    // ---- data
    var jobs = cfg.layers.map(function (spec) {
      return loadAll(spec.url)
        .then(function (features) {
          var layer = builders[spec.name](features);
          layer.addTo(groups[spec.name]);
          DJ.counts[spec.name] = features.length;
          labelsByZoom();
          return spec.name;
        })
        .catch(function (err) {
          DJ.errors.push(spec.name);
          status.appendChild(el("div", null, fill(W["map.load_error"], { layer: W["layer." + spec.name] || spec.name })));
          console.error("dangjian-map: " + spec.name + ": " + err.message);
        });
    });
    DJ.ready = Promise.all(jobs).then(function () {
      DJ.loaded = true;
      document.documentElement.setAttribute("data-dj-ready", "1");
      return DJ.counts;
    });
  }

  DJ.init = init;
})();
