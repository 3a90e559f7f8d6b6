"""Rehearsal sandbox: a CSM-like cluster on one machine.

A real kube-apiserver, controller-manager and etcd; a node agent of ours standing in
for the kubelet; a simulated postgres-operator running one real PostgreSQL server per
`postgresql` resource; moto serving backups over S3.
"""
