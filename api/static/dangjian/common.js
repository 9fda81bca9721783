/* dangjian-map: helpers shared by the 2D coverage map and the 3D party-building map.
 *
 * Creates the window.DangjianMap namespace; the page scripts (map.js, panels.js, labels.js,
 * print.js, phone.js, map3d.js) add to it.  Text from the data only ever reaches the page
 * through textContent (el() below), never innerHTML.
 */
(function () {
  "use strict";

  var DJ = (window.DangjianMap = window.DangjianMap || { counts: {}, loaded: false, errors: [], index: [] });

  /** A new element with a class and text (as textContent, so names from the data stay text). */
  DJ.el = function (tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };

  /** "{a} of {b}" with values filled in (unknown keys stay as they are). */
  DJ.fill = function (template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (m, k) {
      return values[k] === undefined ? m : values[k];
    });
  };

  /** A popup's content: a title, an optional coloured badge and [label, value] rows (rows without a value left out). */
  DJ.popup = function (title, badge, rows) {
    var el = DJ.el, box = el("div", "dj-popup");
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
  };

  /** The title card: district name, subtitle, the three headline figures and notes (cfg.title of the page). */
  DJ.titleCard = function (t) {
    var el = DJ.el, box = el("div", "dj-title");
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
  };

  function hexRgb(h) {
    h = h.replace("#", "");
    return [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
  }

  /** The colour of `value` on a ramp of [stop, "#rrggbb"] pairs (clamped to its first and last stop). */
  DJ.rampColour = function (ramp, value) {
    var s = Math.max(ramp[0][0], Math.min(ramp[ramp.length - 1][0], value));
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
  };

  /** A CSS linear-gradient of a ramp, left to right over its stops. */
  DJ.rampGradient = function (ramp) {
    var lo = ramp[0][0], span = ramp[ramp.length - 1][0] - lo || 1;
    return "linear-gradient(to right," + ramp.map(function (s) { return s[1] + " " + ((s[0] - lo) / span) * 100 + "%"; }).join(",") + ")";
  };

  /** Minutes a compound's walk exceeds the target (null when covered; Infinity when no walk reaches a centre). */
  DJ.minutesOver = function (p, target) {
    if ((p.state || "uncovered") !== "uncovered") return null;
    if (p.walk_min === null || p.walk_min === undefined || isNaN(p.walk_min)) return Infinity;
    return Math.ceil(Math.max(0, p.walk_min - target) * 10) / 10;  // 0.02 min over shows as 0.1, never as 0.0
  };

  /** The fill of a compound: its state's colour, or for an uncovered one the gap ramp at its minutes over the target. */
  DJ.compoundFill = function (S, p, target) {
    var over = DJ.minutesOver(p, target);
    if (over === null) return S.compounds.fill[p.state] || S.compounds.fill.covered;
    var ramp = S.palette.gap_ramp;
    return DJ.rampColour(ramp, over === Infinity ? ramp[ramp.length - 1][0] : over);
  };

  /** The popup of a compound: state badge, households, party organisation, walk and minutes beyond the target. */
  DJ.compoundPopup = function (ctx, p) {
    var W = ctx.W, fmt = ctx.fmt, s = p.state || "uncovered", over = DJ.minutesOver(p, ctx.cfg.target);
    var flags = p.flags ? String(p.flags).split(",").filter(Boolean).map(function (c) { return W["flag." + c] || c; }).join(W["map.list_sep"]) : null;
    return DJ.popup(p.name, { text: W["state." + s], colour: DJ.compoundFill(ctx.S, p, ctx.cfg.target) }, [
      [W["field.households"], fmt.num(p.households, 0)],
      [W["field.population"], fmt.num(p.population, 0)],
      [W["field.community"], p.community],
      [W["field.has_party_org"], p.has_party_org ? W["yes"] : W["no"]],
      [W["field.nearest_center"], p.nearest_center_name],
      [W["field.walk_min"], fmt.num(p.walk_min, 1)],
      [W["field.walk_m"], fmt.num(p.walk_m, 0)],
      [W["map.gap.over"], over === null ? null : over === Infinity ? W["map.gap.unreachable"] : DJ.fill(W["map.gap.over_min"], { minutes: over.toFixed(1) })],
      [W["field.flags"], flags],
      [W["field.unmet_needs"], p.unmet_needs || null],
    ]);
  };

  /** Number and share formatting in the page's language (null for missing values, so rows are skipped). */
  DJ.formats = function (lang) {
    var nf = new Intl.NumberFormat(lang === "zh" ? "zh-CN" : "en-GB");
    return {
      num: function (v, digits) {
        if (v === null || v === undefined || v === "" || (typeof v === "number" && isNaN(v))) return null;
        if (typeof v !== "number") return String(v);
        return digits === undefined ? nf.format(v) : nf.format(Number(v.toFixed(digits)));
      },
      pct: function (v) {
        return v === null || v === undefined || isNaN(v) ? null : (v * 100).toFixed(1) + "%";
      },
      date: function (d) {
        return new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en-GB", { year: "numeric", month: "long", day: "numeric" }).format(d);
      },
    };
  };

  function sameOrigin(href) {
    try {
      var u = new URL(href, window.location.href);
      return u.pathname + u.search;
    } catch (e) {
      return href;
    }
  }

  /** GET JSON from the service itself (credentials same-origin); rejects on a non-2xx answer. */
  DJ.getJSON = function (url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status + " " + url);
      return r.json();
    });
  };

  /** Every feature of a paged /collections/{layer}/items answer (following its next links). */
  DJ.loadAll = function (url) {
    return DJ.getJSON(url).then(function (fc) {
      var next = (fc.links || []).filter(function (l) { return l.rel === "next"; })[0];
      if (!next) return fc.features;
      return DJ.loadAll(sameOrigin(next.href)).then(function (rest) { return fc.features.concat(rest); });
    });
  };
})();
