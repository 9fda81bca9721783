/* dangjian-map: the 3D map's search and legend.
 *
 * Search first looks through the compounds and centres of the tiles loaded now (any part of
 * a name), and on Enter asks the features API for the exact name anywhere in the dataset; a hit
 * flies there and opens its popup.  The legend explains colours, heights and columns.
 */
(function () {
  "use strict";

  var DJ = window.DangjianMap, el = DJ.el;
  var LAYERS = ["compounds", "centers"];

  function bbox(geometry) {
    var b = [180, 90, -180, -90];
    (function walk(c) {
      if (typeof c[0] === "number") {
        b[0] = Math.min(b[0], c[0]); b[1] = Math.min(b[1], c[1]); b[2] = Math.max(b[2], c[0]); b[3] = Math.max(b[3], c[1]);
      } else {
        c.forEach(walk);
      }
    })(geometry.coordinates);
    return b;
  }

  DJ.search3d = function (ctx, map) {
    var W = ctx.W, cfg = ctx.cfg;
    var box = el("div", "dj-search dj3d-search"), input = el("input"), list = el("ul", "dj-search-results");
    input.type = "search";
    input.placeholder = W["map.search"];
    input.setAttribute("aria-label", W["map.search"]);
    box.appendChild(input);
    box.appendChild(list);

    function go(hit) {
      var b = bbox(hit.geometry);
      map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 120, maxZoom: 17, duration: 600 });
      var p = hit.properties, at = [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2];
      var content = hit.layer === "compounds"
        ? DJ.compoundPopup(ctx, p)
        : DJ.popup(p.name, null, [[W["field.level"], W["level." + p.level]], [W["field.status"], W["status." + p.status]], [W["field.community"], p.community]]);
      map.once("moveend", function () { new maplibregl.Popup({ maxWidth: "320px" }).setLngLat(at).setDOMContent(content).addTo(map); });
      list.textContent = "";
    }
    function show(hits) {
      list.textContent = "";
      if (!hits.length) list.appendChild(el("li", "dj-search-none", W["map.search.none"]));
      hits.slice(0, 8).forEach(function (h) {
        var li = el("li", "dj-search-hit");
        li.appendChild(el("span", "dj-search-name", h.properties.name));
        li.appendChild(el("span", "dj-search-kind", W[h.layer === "compounds" ? "map.search.compound" : "map.search.center"]));
        li.addEventListener("click", function () { go(h); });
        list.appendChild(li);
      });
      return hits;
    }
    function local(q) {
      var seen = {}, hits = [];
      LAYERS.forEach(function (layer) {
        if (!cfg.sources[layer]) return;
        map.querySourceFeatures(layer, { sourceLayer: layer }).forEach(function (f) {
          var name = String(f.properties.name || ""), key = layer + ":" + f.properties.id;
          if (seen[key] || name.toLowerCase().indexOf(q.toLowerCase()) < 0) return;
          seen[key] = true;
          hits.push({ layer: layer, properties: f.properties, geometry: f.geometry });
        });
      });
      return hits;
    }
    function remote(q) {
      var extra = (cfg.query ? "&" + cfg.query : "") + (cfg.accessToken ? "&access_token=" + encodeURIComponent(cfg.accessToken) : "");
      return Promise.all(LAYERS.filter(function (l) { return cfg.sources[l]; }).map(function (layer) {
        return DJ.getJSON(cfg.items + "/" + layer + "/items?limit=5&name=" + encodeURIComponent(q) + extra).then(function (fc) {
          return fc.features.map(function (f) { return { layer: layer, properties: f.properties, geometry: f.geometry }; });
        });
      })).then(function (parts) { return [].concat.apply([], parts); });
    }
    /** Search for `q`: the tiles in view (any part of a name), else the features API (the exact name). */
    function find(q) {
      q = q.trim();
      if (!q) return Promise.resolve(show([]).slice(0, 0));
      var hits = local(q);
      if (hits.length) return Promise.resolve(show(hits));
      return remote(q).then(show);
    }
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      if (!input.value.trim()) { list.textContent = ""; return; }
      timer = setTimeout(function () { show(local(input.value.trim())); }, 150);
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter") {
        find(input.value).then(function (hits) { if (hits.length) go(hits[0]); });
      } else if (e.key === "Escape") {
        input.value = "";
        list.textContent = "";
      }
    });
    DJ.search = function (q) {
      input.value = q;
      return find(q).then(function (hits) { return hits.map(function (h) { return h.properties.name; }); });
    };
    DJ.searchGo = function (q) {
      return find(q).then(function (hits) { if (hits.length) go(hits[0]); return hits.length; });
    };
    return box;
  };

  DJ.legend3d = function (ctx) {
    var cfg = ctx.cfg, lg = cfg.legend, S = ctx.S, W = ctx.W;
    var box = el("div", "dj-legend dj3d-legend"), head = el("div", "dj-legend-head", lg.title), body = el("div", "dj-legend-body");
    head.addEventListener("click", function () { box.classList.toggle("dj-collapsed"); });
    box.appendChild(head);
    box.appendChild(body);
    function section(title) { body.appendChild(el("div", "dj-legend-section", title)); }
    function row(colour, label, className) {
      var r = el("div", "dj-legend-row"), sw = el("span", "dj-sw " + (className || "dj-sw-area"));
      if (colour) sw.style.background = colour;
      r.appendChild(sw);
      r.appendChild(el("span", null, label));
      body.appendChild(r);
      return sw;
    }
    section(lg.compounds);
    row(S.compounds.fill.covered, W["state.covered"]);
    row(S.compounds.fill.covered_no_org, W["state.covered_no_org"]);
    body.appendChild(el("div", "dj-legend-sub", lg.gap));
    var ramp = el("div", "dj-ramp"), g = S.palette.gap_ramp, ticks = el("div", "dj-ramp-ticks");
    ramp.style.background = DJ.rampGradient(g);
    g.forEach(function (s, i) { ticks.appendChild(el("span", null, (i === g.length - 1 ? "≥" : "") + s[0])); });
    body.appendChild(ramp);
    body.appendChild(ticks);
    row(null, lg.no_org, "dj-sw-area dj-sw-no-org").style.borderColor = S.compounds.no_party_org.color;
    body.appendChild(el("div", "dj-legend-sub", lg.height));
    if (cfg.sources.centers) {
      section(W["map3d.columns"]);
      lg.levels.forEach(function (l) { row(S.palette.level[l.key], l.label, "dj-sw-column"); });
    }
    if (cfg.sources.party_orgs) {
      section(W["map3d.party_orgs"]);
      lg.org_types.forEach(function (t) { row(cfg.partyOrgTypes[t.key], t.label, "dj-sw-dot"); });
    }
    if (cfg.embed || window.innerWidth < 600) box.classList.add("dj-collapsed");
    return box;
  };
})();
