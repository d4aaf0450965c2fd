"""`make bench`: req/s and p50/p99 latency of the gateway's hot paths, beside their ceilings.

`python -m bench` starts the real Hearth stack as processes (`bench.stack`), seeds it through the
REST API (`bench.seed`), drives each scenario from a separate load process at fixed concurrency
(`bench.load`, `bench.scenarios`), samples CPU per process (`bench.cpu`) and prints a table;
`--write-results` also rewrites `bench/RESULTS.md` (`bench.report`).
"""
