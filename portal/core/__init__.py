"""The kernel: what every app may use and that imports no app (errors, untrusted input, limits,
prepared queries, the template setup, the ARM base view, queue names, liveness)."""
