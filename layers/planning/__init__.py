"""Planning: where new service centres should go, and what-if scenarios over the centres.

One concern per module; each imports only those above it in its list.

Site suggestions (``dangjian optimize``, ``POST /suggestions``):

- :mod:`~layers.planning.counts`: the headline coverage counts both halves report.
- :mod:`~layers.planning.sites`: candidate sites, given or generated near the uncovered compounds.
- :mod:`~layers.planning.problem`: the coverage problem, which candidate would newly cover which compound.
- :mod:`~layers.planning.greedy`: greedy answers (warm start, fallback, baseline).
- :mod:`~layers.planning.reduction`: merging equal compounds and equal candidates before solving.
- :mod:`~layers.planning.model`: the covering models as linear programs.
- :mod:`~layers.planning.highs`: the HiGHS call.
- :mod:`~layers.planning.solve`: solving a model exactly, else greedily, with a bound and a gap.
- :mod:`~layers.planning.suggestion`: maximal and set covering on a problem, the ranked sites and what they change.
- :mod:`~layers.planning.files`: candidate files in, site files out.

Scenarios (``/scenarios``, ``?scenario=ID`` on maps, tiles and reports):

- :mod:`~layers.planning.scenarios`: the scenario model and its JSON form.
- :mod:`~layers.planning.changes`: applying a scenario's changes to the centres.
- :mod:`~layers.planning.scenario_coverage`: the scenario's dataset and its difference from the base.
- :mod:`~layers.planning.scenario_store`: keeping scenarios, in JSON files beside the dataset or in its store.
"""
