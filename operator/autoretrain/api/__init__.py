"""The autoretrain.io/v1alpha1 API: pydantic models, the single source of the CRDs.

- ``modelretrain``: the ModelRetrain kind (the policy) and its status;
- ``run``: the ModelRetrainRun kind (one attempt) and its audit record;
- ``workload``, ``gates``, ``analysis``: the parts a spec is made of;
- ``common``: conditions, names and references both kinds share;
- ``schema`` and ``crd``: the structural schema and the CRD files generated from it.
"""
