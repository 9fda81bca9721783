"""The dataset the service serves and everything derived from it in memory, one concern per module.

- :mod:`api.state.dataset`: :class:`~api.state.dataset.DatasetState` (on
  ``app.state.dangjian``), which loads the dataset, follows new revisions of
  its store and composes the owners below;
- :mod:`api.state.store`: the store's life cycle;
- :mod:`api.state.watch`: when the served dataset may be behind its store;
- :mod:`api.state.variants`: coverage variants (other minutes, method, a scenario), bounded and computed once each;
- :mod:`api.state.scenarios`: the served dataset's scenarios;
- :mod:`api.state.caches`: rendered tiles, feature tables and tile sources;
- :mod:`api.state.features`: :class:`~api.state.features.FeatureTable` and GeoJSON text;
- :mod:`api.state.lru`: the thread-safe LRU every cache uses;
- :mod:`api.state.edit_queue` and :mod:`api.state.editing`: edits of the store, batched;
- :mod:`api.state.deps`: the FastAPI dependencies routers use.
"""
