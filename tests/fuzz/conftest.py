"""Shared fuzzing set-up (hypothesis).

Every fuzz test takes the ``fuzz`` fixture and runs twice: ``[sample]`` in the default suite
(``FUZZ_SAMPLE`` cases, derandomized so the default run is reproducible) and ``[10k]`` with
10,000 cases per input under ``@pytest.mark.slow``. No example database is written (the
checkout stays clean); a failure prints the falsifying example.
"""

from __future__ import annotations

import os

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="pip install hypothesis (requirements.txt)")
from hypothesis import HealthCheck, given, settings  # noqa: E402

SAMPLE = int(os.environ.get("FUZZ_SAMPLE", "60"))
FULL = int(os.environ.get("FUZZ_FULL", "10000"))


@pytest.fixture(
    params=[pytest.param(SAMPLE, id="sample"), pytest.param(FULL, id="10k", marks=pytest.mark.slow)]
)
def fuzz_budget(request) -> int:
    return request.param


class Fuzzer:
    def __init__(self, budget: int):
        self.budget = budget
        self.cases = 0

    def __call__(self, strategy, check, budget: int | None = None) -> int:
        """Run ``check(example)`` for ``budget`` (default: the fixture's) examples of ``strategy``."""
        n = budget or self.budget
        count = [0]

        @settings(
            max_examples=n,
            deadline=None,
            database=None,
            derandomize=n <= SAMPLE,
            suppress_health_check=list(HealthCheck),
            print_blob=True,
        )
        @given(strategy)
        def run(example):
            count[0] += 1
            check(example)

        run()
        self.cases += count[0]
        return count[0]


@pytest.fixture
def fuzz(fuzz_budget) -> Fuzzer:
    return Fuzzer(fuzz_budget)
