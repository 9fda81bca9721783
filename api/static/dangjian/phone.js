/* dangjian-map: the 2D map on a phone (narrower than 600 px).
 *
 * The title card folds into a bar at the top (the district and its three figures; a tap
 * opens the whole card), and search, layers, legend and gap list move into a bottom sheet
 * that is only a row of tabs until one is tapped.  Zoom, full screen and print stay on the
 * map.  Wider again, every panel goes back to its corner.
 */
(function () {
  "use strict";

  var DJ = window.DangjianMap, el = DJ.el;
  var PHONE = "(max-width: 599px)";

  DJ.addPhone = function (ctx) {
    var map = ctx.map, W = ctx.W, container = map.getContainer();
    var query = window.matchMedia(PHONE), moved = [], open = null;

    var bar = el("div", "dj-phone-bar");
    var sheet = el("div", "dj-sheet");
    var tabs = el("div", "dj-sheet-tabs");
    var panes = el("div", "dj-sheet-panes");
    sheet.appendChild(panes);  // the open pane grows upwards from the tabs, which stay at the bottom edge
    sheet.appendChild(tabs);
    [bar, sheet].forEach(function (node) {
      L.DomEvent.disableClickPropagation(node);
      L.DomEvent.disableScrollPropagation(node);
    });

    var t = ctx.cfg.title;
    if (t) {
      bar.appendChild(el("div", "dj-phone-name", t.name));
      var figures = el("div", "dj-phone-kpis");
      t.kpis.forEach(function (k) {
        var cell = el("span", "dj-phone-kpi dj-kpi-" + k.tone);
        cell.appendChild(el("b", "dj-kpi-value", k.value));
        cell.appendChild(el("span", null, k.label));
        figures.appendChild(cell);
      });
      bar.appendChild(figures);
      bar.setAttribute("role", "button");
      bar.addEventListener("click", function () { container.classList.toggle("dj-title-open"); });
    }

    // one tab per panel that exists on this page: [key, selector of the panel, label]
    var panels = [
      ["search", ".dj-search", W["map.sheet.search"]],
      ["layers", ".leaflet-control-layers", W["map.sheet.layers"]],
      ["legend", ".dj-legend", W["map.legend"]],
      ["gaps", ".dj-gaps", W["map.sheet.gaps"]],
    ];
    var tabButtons = {};

    function show(key) {
      open = open === key ? null : key;
      sheet.classList.toggle("dj-sheet-open", open !== null);
      Object.keys(tabButtons).forEach(function (k) {
        tabButtons[k].classList.toggle("dj-tab-on", k === open);
        tabButtons[k].setAttribute("aria-expanded", k === open ? "true" : "false");
        panes.querySelector('[data-pane="' + k + '"]').hidden = k !== open;
      });
      if (open === "layers") {
        var lc = panes.querySelector(".leaflet-control-layers");
        if (lc) lc.classList.add("leaflet-control-layers-expanded");
      }
      if (open === "legend") {
        var lg = panes.querySelector(".dj-legend");
        if (lg) lg.classList.remove("dj-collapsed");
      }
      if (open === "search") {
        var input = panes.querySelector(".dj-search input");
        if (input) input.focus();
      }
    }
    /** Open (or close, when open) one tab of the bottom sheet: "search", "layers", "legend" or "gaps". */
    DJ.sheet = function (key) {
      if (key === undefined) return open;
      show(key);
      return open;
    };

    function toPhone() {
      container.classList.add("dj-phone");
      if (t) container.insertBefore(bar, container.firstChild);
      container.appendChild(sheet);
      tabs.textContent = "";
      panes.textContent = "";
      tabButtons = {};
      panels.forEach(function (p) {
        var node = container.querySelector(".leaflet-control-container " + p[1]);
        if (!node) return;
        moved.push([node, node.parentNode, node.nextSibling]);
        var pane = el("div", "dj-sheet-pane");
        pane.setAttribute("data-pane", p[0]);
        pane.hidden = true;
        pane.appendChild(node);
        panes.appendChild(pane);
        var b = el("button", "dj-tab dj-tab-" + p[0], p[2]);
        b.type = "button";
        b.setAttribute("aria-expanded", "false");
        b.addEventListener("click", function () { show(p[0]); });
        tabs.appendChild(b);
        tabButtons[p[0]] = b;
      });
      var title = container.querySelector(".dj-title");
      if (title) {
        moved.push([title, title.parentNode, title.nextSibling]);
        bar.appendChild(title);
      }
    }

    function toDesktop() {
      container.classList.remove("dj-phone", "dj-title-open");
      moved.reverse().forEach(function (m) { m[1].insertBefore(m[0], m[2]); });
      moved = [];
      open = null;
      sheet.classList.remove("dj-sheet-open");
      if (bar.parentNode) bar.parentNode.removeChild(bar);
      if (sheet.parentNode) sheet.parentNode.removeChild(sheet);
    }

    function apply() {
      if (query.matches === container.classList.contains("dj-phone")) return;
      if (query.matches) toPhone();
      else toDesktop();
      map.invalidateSize({ animate: false });
      if (DJ.fit) DJ.fit();
    }
    if (query.addEventListener) query.addEventListener("change", apply);
    else query.addListener(apply);
    setTimeout(apply, 0);  // once the page script has added the layer switcher too

    // a chosen gap or search hit: fold the sheet so the map shows it
    var focusItem = DJ.focusItem;
    DJ.focusItem = function (c, item) {
      if (container.classList.contains("dj-phone") && open !== null) show(open);
      container.classList.remove("dj-title-open");
      focusItem(c, item);
    };
  };
})();
