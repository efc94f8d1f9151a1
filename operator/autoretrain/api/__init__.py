"""The autoretrain.io/v1alpha1 API and the pod contract (pydantic). May import pydantic only.

- ``modelretrain``: the ModelRetrain kind (the policy) and its status;
- ``run``: the ModelRetrainRun kind (one attempt) and its audit record;
- ``workload``, ``gates``, ``online``, ``monitoring``: the parts a spec is made of;
- ``common``: conditions, names and references both kinds share;
- ``pods``: the pod contract: environment, artifact layout and the reports pods write;
- ``schema`` and ``crd``: the structural schema and the CRD files generated from it.
"""
