"""Rehearsal sandbox: a CSM-like cluster on one machine.

A real kube-apiserver, controller-manager and etcd; a node agent of ours standing in
for the kubelet; a simulated postgres-operator (v1.8.2) and Patroni running one real,
Spilo-bootstrapped PostgreSQL server per `postgresql` resource, with the sessions Spilo
pods hold; moto serving backups over S3. settings.py says how harsh it is.
"""
