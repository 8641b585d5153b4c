"""Who gets the traffic: KServe's rollout rules as a pure function.

An InferenceService's predictor has a stable, rolled-out revision and a latest one. Without
`canaryTrafficPercent` the latest takes 100% as soon as it is ready; with it, the latest takes
that share and the previous rolled-out revision the rest; 0 rolls back. A latest revision that
is not ready (still loading, or failing) never takes traffic from a rolled-out one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    revision: str
    percent: int
    latest: bool
    tag: str | None = None

    def as_status(self) -> dict[str, object]:
        """The entry of `status.components.predictor.traffic`, as KServe writes it."""
        entry: dict[str, object] = {
            "revisionName": self.revision,
            "percent": self.percent,
            "latestRevision": self.latest,
        }
        if self.tag:
            entry["tag"] = self.tag
        return entry


@dataclass(frozen=True)
class Rollout:
    """What the status remembers between passes: the stable revision and the one before it."""

    latest_rolled_out: str | None = None
    previous_rolled_out: str | None = None


@dataclass(frozen=True)
class Decision:
    targets: tuple[Target, ...]
    rollout: Rollout

    def percent(self, revision: str) -> int:
        return sum(t.percent for t in self.targets if t.revision == revision)


def decide(
    latest: str, latest_ready: bool, canary: int | None, rollout: Rollout, *, known: set[str]
) -> Decision:
    """The traffic split for this pass and the rollout memory for the next.

    `known` names the revisions that still exist; a rolled-out revision that is gone cannot
    take traffic.
    """
    stable = rollout.latest_rolled_out if rollout.latest_rolled_out in known else None
    if stable is None or stable == latest:
        # First rollout, or nothing newer: the latest is the only place to send requests,
        # and the activator holds them until it is ready.
        now_stable = latest if latest_ready else stable
        previous = rollout.previous_rolled_out if now_stable == stable else stable
        return Decision(
            (Target(latest, 100, latest=True),),
            Rollout(now_stable, previous),
        )
    if canary is None:
        if latest_ready:
            return Decision((Target(latest, 100, latest=True),), Rollout(latest, stable))
        return Decision(
            (Target(stable, 100, latest=False),),
            rollout,
        )
    share = canary if latest_ready else 0
    previous = stable if share > 0 else rollout.previous_rolled_out
    return Decision(
        (
            Target(latest, share, latest=True, tag="latest"),
            Target(stable, 100 - share, latest=False, tag="prev"),
        ),
        Rollout(stable, previous),
    )
