"""Planning: what-if scenarios over the service centres.

One concern per module, lower ones first:

- :mod:`~layers.planning.counts`: the headline coverage counts both halves report.
- :mod:`~layers.planning.scenarios`: the scenario model (:class:`~layers.planning.scenarios.Scenario`,
  its changes) and its JSON form.
- :mod:`~layers.planning.changes`: applying the changes to the centres.
- :mod:`~layers.planning.scenario_coverage`: the scenario's dataset and its difference from the base.
- :mod:`~layers.planning.scenario_store`: keeping scenarios, in JSON files beside the dataset or in its store.
"""
