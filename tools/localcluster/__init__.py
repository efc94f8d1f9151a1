"""A real, local Kubernetes control plane for autoretrain's tests and demo.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are the real
programs, built from the Kubernetes Go modules. The one stand-in is the node
agent (``nodeagent``), which plays the part of the kubelet and a container
runtime, neither of which can run on these machines.
"""
