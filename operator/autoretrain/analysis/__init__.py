"""Online analysis of a canary: metric providers, measurements and the judge.

- ``provider``: the ``MetricsProvider`` interface and the no-data ``NullProvider``;
- ``prometheus``: the provider over Prometheus' HTTP API;
- ``queries``: placeholder rendering and the built-in checks' PromQL (pure);
- ``statistics``: PSI, histogram buckets, the Mann-Whitney judge (pure);
- ``judge``: measurement and metric verdicts with Argo Rollouts' counting (pure);
- ``measure``: one measurement of one metric through a provider.
"""
