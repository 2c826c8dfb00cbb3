"""Plumbing the tests and the benchmarks share: throwaway namespaces, service processes, schedules.

Dev-only: installed by the workspace's ``dev`` dependency group, never a service's dependency.
"""
