"""Online analysis of a canary: metric providers and measurements. May import ``api``.

- ``provider``: the ``MetricsProvider`` interface and the no-data ``NullProvider``;
- ``prometheus``: the provider over Prometheus' HTTP API;
- ``queries``: placeholder rendering and the built-in checks' PromQL (pure);
- ``statistics``: PSI, histogram buckets, the Mann-Whitney test (pure);
- ``measure``: one measurement of one metric through a provider.

What the measurements add up to is decided in ``autoretrain.lifecycle.judge``.
"""
