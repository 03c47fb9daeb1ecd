"""Imported by Python at start-up when this folder is on PYTHONPATH (only processes started by a
benchmark day are: ``benchmarks.stages.export_to_children``): measure every step this process
runs into the day's records file (``benchmarks.stages``)."""

import os

if os.environ.get("LOANRISK_BENCH_STAGES"):
    from benchmarks.stages import install_when_imported

    install_when_imported(os.environ["LOANRISK_BENCH_STAGES"])
