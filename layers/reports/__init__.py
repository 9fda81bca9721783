"""Reports of a built dataset: computed once as plain tables, written as JSON, CSV, XLSX or a one-page HTML.

Layout, one concern per module, imports pointing down the list:

- :mod:`~layers.reports.tables`: what every kind hands the writers: :class:`~layers.reports.tables.Table`,
  :class:`~layers.reports.tables.Section`, :class:`~layers.reports.tables.ReportDocument`, cell kinds.
- :mod:`~layers.reports.gap_tables`: the gap report's columns, :class:`~layers.reports.gap_tables.GapReport`
  and its tables in a language.
- :mod:`~layers.reports.gaps`: the gap analysis (:func:`~layers.reports.gaps.gap_report`).
- :mod:`~layers.reports.map_png`: the static gap map (matplotlib, PNG) for the HTML page and site suggestions.
- :mod:`~layers.reports.formats`: the JSON, CSV and XLSX writers.
- :mod:`~layers.reports.html`: the self-contained HTML page.
- :mod:`~layers.reports.kinds`: the registry of report kinds (``gaps``) and
  :func:`~layers.reports.kinds.render_report`, the one call of the CLI, the service and batch runs.

A new kind (``orgs``, ``alliance``, ``needs`` ...) is one module with its builder and report class (a
:class:`~layers.reports.tables.Report`: ``document(lang)`` gives its tables) and one entry in
:data:`~layers.reports.kinds.REPORT_KINDS`.
"""
