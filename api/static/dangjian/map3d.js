/* dangjian-map: the 3D party-building map (三维党建地图), MapLibre GL JS on the service's own tiles.
 *
 * The page (api/maps/map3d_page.py) holds the config as JSON; this script builds the style from
 * the layers' TileJSON, so features arrive tile by tile.  Centre columns and the HTML labels are
 * made from the features of the loaded tiles after each move (never from all features at once).
 * Search asks the tiles in view first and the features API (exact name) on Enter.
 * window.DangjianMap3D reports readiness, errors and timings (ms since navigation start).
 */
(function () {
  "use strict";

  var DJ = window.DangjianMap, el = DJ.el;
  var D3 = (window.DangjianMap3D = { ready: false, errors: [], times: {}, markers: 0 });
  var MAX_LABELS = 150;

  function absolute(url) {
    // by hand: new URL() would escape the {z}/{x}/{y} of tile templates
    return url.charAt(0) === "/" ? window.location.origin + url : url;
  }

  function compoundColour(cfg) {
    var fill = cfg.style.compounds.fill, ramp = cfg.style.palette.gap_ramp;
    var over = ["-", ["to-number", ["coalesce", ["get", "walk_min"], 9999]], cfg.target];
    var gap = ["interpolate", ["linear"], over];
    ramp.forEach(function (s) { gap.push(s[0], s[1]); });
    return ["match", ["get", "state"], "covered", fill.covered, "covered_no_org", fill.covered_no_org, gap];
  }

  function compoundHeight(cfg) {
    var byHouseholds = ["interpolate", ["linear"], ["to-number", ["coalesce", ["get", "households"], 0]]];
    cfg.householdHeights.forEach(function (s) { byHouseholds.push(s[0], s[1]); });
    return ["case", ["has", "storeys"], ["*", cfg.storeyM, ["to-number", ["get", "storeys"], 1]], byHouseholds];
  }

  function levelMatch(cfg, key, fallback) {
    var m = ["match", ["get", "level"]];
    Object.keys(cfg.columns).forEach(function (lv) { m.push(lv, key === "colour" ? cfg.style.palette.level[lv] : cfg.columns[lv][key]); });
    m.push(fallback);
    return m;
  }

  function roadWidth(scale) {
    return ["*", scale, ["match", ["get", "class"], "arterial", 5, "secondary", 3.5, "local", 2, "path", 1.2, 2]];
  }

  function buildStyle(cfg) {
    var S = cfg.style, P = S.palette, src = cfg.sources, ov = cfg.overview, sources = {}, layers = [];
    layers.push({ id: "paper", type: "background", paint: { "background-color": P.paper } });
    Object.keys(src).forEach(function (name) {
      sources[name] = { type: "vector", url: absolute(src[name].url), minzoom: src[name].minzoom };
    });
    sources.center_columns = { type: "geojson", data: { type: "FeatureCollection", features: [] } };
    Object.keys(ov).forEach(function (name) {
      sources["overview-" + name] = { type: "raster", tiles: [absolute(ov[name])], tileSize: 256, minzoom: cfg.minTileZoom, maxzoom: src[name].minzoom };
      layers.push({ id: "overview-" + name, type: "raster", source: "overview-" + name, maxzoom: src[name].minzoom, paint: { "raster-opacity": 0.9 } });
    });
    if (src.rivers) {
      layers.push({ id: "rivers", type: "fill", source: "rivers", "source-layer": "rivers", filter: ["==", ["geometry-type"], "Polygon"],
        paint: { "fill-color": P.water, "fill-outline-color": P.water_edge } });
      layers.push({ id: "rivers-lines", type: "line", source: "rivers", "source-layer": "rivers", filter: ["==", ["geometry-type"], "LineString"],
        paint: { "line-color": P.water, "line-width": 4 } });
    }
    if (src.roads) {
      var zoomed = function (w) { return ["interpolate", ["exponential", 1.5], ["zoom"], 12, roadWidth(0.35 * w), 15, roadWidth(w), 18, roadWidth(3 * w)]; };
      layers.push({ id: "roads-casing", type: "line", source: "roads", "source-layer": "roads", layout: { "line-join": "round" },
        paint: { "line-color": P.road_casing, "line-width": zoomed(1.35) } });
      layers.push({ id: "roads", type: "line", source: "roads", "source-layer": "roads", layout: { "line-join": "round" },
        paint: { "line-color": P.road, "line-width": zoomed(1) } });
    }
    if (src.grids) {
      layers.push({ id: "grids", type: "line", source: "grids", "source-layer": "grids", minzoom: 14,
        paint: { "line-color": S.grids.color, "line-width": 0.8, "line-dasharray": [2, 3], "line-opacity": 0.7 } });
    }
    if (src.units) {
      layers.push({ id: "units", type: "line", source: "units", "source-layer": "units",
        paint: { "line-color": S.units.color, "line-width": 1.4, "line-dasharray": [6, 4], "line-opacity": 0.6 } });
    }
    if (src.boundary) {
      ["community", "subdistrict", "district"].forEach(function (lv) {
        var b = S.boundary[lv];
        layers.push({ id: "boundary-" + lv, type: "line", source: "boundary", "source-layer": "boundary", filter: ["==", ["get", "level"], lv],
          paint: { "line-color": b.color, "line-width": b.weight, "line-dasharray": lv === "community" ? [5, 4] : [1, 0] } });
      });
    }
    if (src.compounds) {
      layers.push({ id: "compounds-no-org", type: "line", source: "compounds", "source-layer": "compounds",
        filter: ["==", ["get", "has_party_org"], false],
        paint: { "line-color": S.compounds.no_party_org.color, "line-width": 1.6, "line-dasharray": [3, 2] } });
      layers.push({ id: "compounds", type: "fill-extrusion", source: "compounds", "source-layer": "compounds",
        paint: { "fill-extrusion-color": compoundColour(cfg), "fill-extrusion-height": compoundHeight(cfg), "fill-extrusion-base": 0, "fill-extrusion-opacity": 0.86 } });
    }
    if (src.centers) {
      // the ground dot of each centre (it also makes MapLibre load the centre tiles the columns are made from)
      layers.push({ id: "centers", type: "circle", source: "centers", "source-layer": "centers",
        paint: { "circle-radius": 3, "circle-color": levelMatch(cfg, "colour", "#607d8b"), "circle-pitch-alignment": "map" } });
      layers.push({ id: "center-columns", type: "fill-extrusion", source: "center_columns",
        paint: { "fill-extrusion-color": ["get", "colour"], "fill-extrusion-height": ["get", "height"], "fill-extrusion-opacity": 0.95 } });
    }
    if (src.party_orgs) {
      var byType = ["match", ["get", "type"]];
      Object.keys(cfg.partyOrgTypes).forEach(function (t) { byType.push(t, cfg.partyOrgTypes[t]); });
      byType.push("#7b1fa2");
      layers.push({ id: "party_orgs", type: "circle", source: "party_orgs", "source-layer": "party_orgs",
        paint: { "circle-radius": 5, "circle-color": byType, "circle-stroke-color": "#ffffff", "circle-stroke-width": 1.5 } });
    }
    return { version: 8, sources: sources, layers: layers };
  }

  /** A hexagon of `r` metres around [lon, lat]. */
  function hexagon(c, r) {
    var dLat = r / 111320, dLon = r / (111320 * Math.cos((c[1] * Math.PI) / 180)), ring = [];
    for (var i = 0; i <= 6; i++) {
      var a = (Math.PI / 3) * (i % 6);
      ring.push([c[0] + dLon * Math.cos(a), c[1] + dLat * Math.sin(a)]);
    }
    return [ring];
  }

  function lighter(hex) {
    var h = hex.replace("#", ""), out = "#";
    for (var i = 0; i < 3; i++) out += Math.round(255 - (255 - parseInt(h.substr(2 * i, 2), 16)) * 0.45).toString(16).padStart(2, "0");
    return out;
  }

  function unique(features, key) {
    var seen = {}, out = [];
    features.forEach(function (f) {
      var k = key(f);
      if (k === undefined || seen[k]) return;
      seen[k] = out.length;
      out.push(f);
    });
    return out;
  }

  function init() {
    var cfg = JSON.parse(document.getElementById("dj-config").textContent), W = cfg.words;
    var ctx = { cfg: cfg, W: W, S: cfg.style, fmt: DJ.formats(cfg.lang) };
    var container = document.getElementById("dj3d-map");
    var b = cfg.bounds;
    var map = new maplibregl.Map({
      container: container,
      style: buildStyle(cfg),
      bounds: [[b[0], b[1]], [b[2], b[3]]],
      fitBoundsOptions: { padding: { top: 60, bottom: 60, left: cfg.title && window.innerWidth > 900 ? 400 : 30, right: 30 } },
      pitch: 45,
      bearing: -12,
      maxPitch: 70,
      fadeDuration: 0,
      attributionControl: false,
      transformRequest: function (url) {
        if (!cfg.accessToken || url.indexOf(window.location.origin) !== 0) return { url: url };
        return { url: url + (url.indexOf("?") < 0 ? "?" : "&") + "access_token=" + encodeURIComponent(cfg.accessToken) };
      },
    });
    D3.map = map;
    // a city: open on its centre at the zoom where the compounds come as vector tiles (never thousands a tile)
    var detail = cfg.sources.compounds ? cfg.sources.compounds.minzoom : cfg.minTileZoom;
    if (map.getZoom() < detail + 0.2) map.jumpTo({ zoom: detail + 0.2 });
    map.addControl(new maplibregl.NavigationControl({ visualizePitch: true }), "top-right");
    map.addControl(new maplibregl.ScaleControl({ unit: "metric", maxWidth: 140 }), "bottom-left");
    map.addControl(new maplibregl.AttributionControl({ compact: true, customAttribution: "dangjian-map · MapLibre" }), "bottom-right");
    map.on("error", function (e) {
      var msg = String((e.error && e.error.message) || e);
      D3.errors.push(msg);
      console.error("dangjian-map 3d: " + msg);
    });

    // ---- centre columns and labels from the loaded tiles
    var labels = {}, columnIds = "";
    function label(key, lngLat, text, className) {
      var m = labels[key];
      if (!m) {
        var node = el("div", "dj3d-label " + className, text);
        m = labels[key] = new maplibregl.Marker({ element: node, anchor: "bottom" }).setLngLat(lngLat).addTo(map);
      }
      m.seen = true;
    }
    function setColumns(centres, ids) {
      columnIds = ids;
      map.getSource("center_columns").setData({
        type: "FeatureCollection",
        features: centres.map(function (f) {
          var p = f.properties, col = cfg.columns[p.level] || cfg.columns.compound, colour = cfg.style.palette.level[p.level] || "#607d8b";
          return {
            type: "Feature",
            properties: {
              id: p.id, name: p.name, level: p.level, status: p.status, community: p.community, height: col.height,
              colour: (p.status || "existing") === "existing" ? colour : lighter(colour),
            },
            geometry: { type: "Polygon", coordinates: hexagon(f.geometry.coordinates, col.radius) },
          };
        }),
      });
      D3.columns = centres.length;
    }
    function refresh() {
      if (cfg.sources.centers) {
        var centres = unique(map.querySourceFeatures("centers", { sourceLayer: "centers" }), function (f) { return f.properties.id; });
        var ids = centres.map(function (f) { return f.properties.id; }).sort().join(",");
        if (ids !== columnIds) setColumns(centres, ids);  // only when they change: new data means another idle
        var z = map.getZoom(), shown = 0;
        var minZoom = { district: 0, subdistrict: 0, community: 14, compound: 15.5 };
        centres.forEach(function (f) {
          var p = f.properties;
          if (shown >= MAX_LABELS || z < (p.level in minZoom ? minZoom[p.level] : 15.5) || !p.name) return;
          shown += 1;
          label("c:" + p.id, f.geometry.coordinates, p.name, "dj3d-label-center dj3d-level-" + p.level);
        });
      }
      if (cfg.sources.boundary) {
        var pieces = map.querySourceFeatures("boundary", { sourceLayer: "boundary", filter: ["==", ["get", "level"], "community"] });
        var boxes = {};
        pieces.forEach(function (f) {
          var key = f.properties.id || f.properties.name, bx = boxes[key] || (boxes[key] = { name: f.properties.name, w: 180, e: -180, s: 90, n: -90 });
          (f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates).forEach(function (poly) {
            poly[0].forEach(function (c) {
              bx.w = Math.min(bx.w, c[0]); bx.e = Math.max(bx.e, c[0]); bx.s = Math.min(bx.s, c[1]); bx.n = Math.max(bx.n, c[1]);
            });
          });
        });
        Object.keys(boxes).slice(0, MAX_LABELS).forEach(function (k) {
          var bx = boxes[k];
          if (bx.name) label("b:" + k, [(bx.w + bx.e) / 2, (bx.s + bx.n) / 2], bx.name, "dj3d-label-community");
        });
      }
      Object.keys(labels).forEach(function (k) {
        if (!labels[k].seen) {
          labels[k].remove();
          delete labels[k];
        } else {
          labels[k].seen = false;
        }
      });
      D3.markers = Object.keys(labels).length;
      // community labels step aside from the centres' (and from each other), or drop out
      D3.labels = DJ.placeApart(
        Array.prototype.slice.call(container.querySelectorAll(".dj3d-label-community")),
        DJ.visibleBoxes(container.querySelectorAll(".dj3d-label-center"))
      );
    }

    // ---- panels: title card (with a link to the 2D map), search, legend
    var overlay = el("div", "dj3d-panels");
    container.appendChild(overlay);
    if (cfg.title) {
      var card = DJ.titleCard(cfg.title);
      card.querySelector(".dj-title-sub").textContent = W["map3d.title"] + " · " + cfg.title.subtitle;
      if (cfg.coverageUrl) {
        var to2d = el("a", "dj3d-to2d", W["map3d.to2d"]);
        to2d.href = cfg.coverageUrl;
        card.appendChild(to2d);
      }
      overlay.appendChild(card);
    }
    container.appendChild(DJ.search3d(ctx, map));
    container.appendChild(DJ.legend3d(ctx));

    map.on("click", "compounds", function (e) {
      var f = e.features[0];
      new maplibregl.Popup({ maxWidth: "320px" }).setLngLat(e.lngLat).setDOMContent(DJ.compoundPopup(ctx, f.properties)).addTo(map);
    });
    map.on("click", "center-columns", function (e) {
      var p = e.features[0].properties;
      new maplibregl.Popup({ maxWidth: "320px" }).setLngLat(e.lngLat).setDOMContent(
        DJ.popup(p.name, { text: W["level." + p.level] + " · " + W["status." + p.status], colour: cfg.style.palette.level[p.level] || "#607d8b" }, [
          [W["field.level"], W["level." + p.level]], [W["field.status"], W["status." + p.status]], [W["field.community"], p.community],
        ])
      ).addTo(map);
    });
    ["compounds", "center-columns"].forEach(function (id) {
      map.on("mouseenter", id, function () { map.getCanvas().style.cursor = "pointer"; });
      map.on("mouseleave", id, function () { map.getCanvas().style.cursor = ""; });
    });

    map.once("load", function () { D3.times.load = Math.round(performance.now()); });
    // the first frame: compounds and centres of the view drawn (idle also waits for roads and outlines)
    var firstSources = ["compounds", "centers"].filter(function (n) { return cfg.sources[n]; });
    function firstFrame() {
      if (!firstSources.every(function (n) { return map.isSourceLoaded(n); })) return;
      D3.times.firstFrame = Math.round(performance.now());
      map.off("render", firstFrame);
    }
    map.on("render", firstFrame);
    map.once("idle", function () {
      // the first frame with every tile in view drawn; then the centre columns made from those tiles
      D3.times.idle = Math.round(performance.now());
      var before = columnIds;
      refresh();
      function done() {
        D3.times.ready = Math.round(performance.now());
        D3.ready = true;
        document.documentElement.setAttribute("data-dj-ready", "1");
        map.on("idle", refresh);
      }
      if (columnIds !== before) map.once("idle", done);
      else done();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
