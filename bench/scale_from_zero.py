"""Scale from zero: the first request after a revision went to zero replicas, through the gateway.

`python -m bench.scale_from_zero` starts `modelplane up` (short autoscaling windows, as the e2e
tests use) with the iris InferenceService at `minReplicas: 0`, then, several times, waits for
the revision to reach zero replicas and times one V1 request through the gateway: the
activator holds it while a replica starts, loads the model and turns ready. It does so with
warm starts (the default: replicas forked from a template with the imports done) and with
`--no-warm-starts` (a new Python process per replica), one control plane each, and prints both.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from tests.support.controlplane import ControlPlane, wait_until
from tests.support.manifests import sklearn_isvc
from tests.support.models import IRIS_ROWS, train_sklearn

REVISION = "iris-predictor-00001"


def first_answers(home: Path, model_dir: Path, rounds: int, *args: str) -> list[float]:
    """Seconds from a request to its answer, each time from zero replicas."""
    times = []
    with ControlPlane(home, *args) as plane:
        plane.wait_up()
        plane.apply(sklearn_isvc("iris", model_dir, extra="    minReplicas: 0\n"))
        plane.wait_ready("iris")
        assert plane.predict("iris", IRIS_ROWS).status_code == 200
        for k in range(rounds):
            wait_until(
                lambda: (
                    plane.revision(REVISION)["status"].get("actualReplicas") == 0
                    and not list((home / "replicas").glob("*.json"))
                ),
                timeout=120,
                what="zero replicas",
            )
            started = time.monotonic()
            answer = plane.predict("iris", IRIS_ROWS)
            took = time.monotonic() - started
            assert answer.status_code == 200, answer.text
            times.append(took)
            print(f"  {' '.join(args) or 'warm starts'} round {k + 1}: {took * 1000:.0f} ms")
        assert plane.terminate() == 0, plane.output
    return times


def measure(model_dir: Path, work: Path, rounds: int) -> dict[str, list[float]]:
    """Seconds to the first answer from zero replicas: "cold" with a new process per replica
    (`--no-warm-starts`), "warm" forked from a template (the default)."""
    return {
        "cold": first_answers(work / "cold", model_dir, rounds, "--no-warm-starts"),
        "warm": first_answers(work / "warm", model_dir, rounds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mp-zero-bench-") as tmp:
        work = Path(tmp)
        found = measure(train_sklearn(work / "model"), work, args.rounds)
    print(f"\n{'replicas':<30} {'median ms':>9} {'min ms':>7} {'max ms':>7}")
    for name, times in (
        ("new process (--no-warm-starts)", found["cold"]),
        ("forked from a template", found["warm"]),
    ):
        ms = [t * 1000 for t in times]
        print(f"{name:<30} {statistics.median(ms):>9.0f} {min(ms):>7.0f} {max(ms):>7.0f}")
    ratio = statistics.median(found["warm"]) / statistics.median(found["cold"])
    print(
        f"\nwarm / cold (median): {ratio:.2f}; {args.rounds} rounds each; "
        "goal: under 1 s from zero to the first answer"
    )


if __name__ == "__main__":
    main()
