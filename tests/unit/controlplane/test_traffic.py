"""KServe's rollout rules: promotion, canary split, rollback, and a failing new revision."""

from __future__ import annotations

from modelplane.controlplane import traffic

R1, R2 = "iris-predictor-00001", "iris-predictor-00002"


def split(decision: traffic.Decision) -> dict[str, int]:
    return {t.revision: t.percent for t in decision.targets}


def test_first_revision_takes_everything_and_becomes_rolled_out_when_ready() -> None:
    starting = traffic.decide(R1, False, None, traffic.Rollout(), known={R1})
    assert split(starting) == {R1: 100}
    assert starting.rollout == traffic.Rollout(None, None)
    ready = traffic.decide(R1, True, None, starting.rollout, known={R1})
    assert split(ready) == {R1: 100}
    assert ready.rollout.latest_rolled_out == R1


def test_new_revision_takes_over_only_once_ready() -> None:
    stable = traffic.Rollout(R1, None)
    loading = traffic.decide(R2, False, None, stable, known={R1, R2})
    assert split(loading) == {R1: 100}
    assert loading.rollout == stable
    ready = traffic.decide(R2, True, None, loading.rollout, known={R1, R2})
    assert split(ready) == {R2: 100}
    assert ready.rollout == traffic.Rollout(R2, R1)


def test_canary_splits_between_latest_and_rolled_out() -> None:
    decision = traffic.decide(R2, True, 10, traffic.Rollout(R1, None), known={R1, R2})
    assert split(decision) == {R2: 10, R1: 90}
    tags = {t.revision: (t.tag, t.latest) for t in decision.targets}
    assert tags == {R2: ("latest", True), R1: ("prev", False)}
    assert decision.rollout == traffic.Rollout(R1, R1)


def test_canary_of_a_revision_not_ready_sends_it_nothing() -> None:
    decision = traffic.decide(R2, False, 30, traffic.Rollout(R1, None), known={R1, R2})
    assert split(decision) == {R2: 0, R1: 100}


def test_zero_rolls_back_and_removing_the_canary_promotes() -> None:
    canary = traffic.decide(R2, True, 20, traffic.Rollout(R1, None), known={R1, R2})
    rolled_back = traffic.decide(R2, True, 0, canary.rollout, known={R1, R2})
    assert split(rolled_back) == {R2: 0, R1: 100}
    promoted = traffic.decide(R2, True, None, rolled_back.rollout, known={R1, R2})
    assert split(promoted) == {R2: 100}
    assert promoted.rollout == traffic.Rollout(R2, R1)


def test_a_deleted_rolled_out_revision_cannot_take_traffic() -> None:
    decision = traffic.decide(R2, False, 50, traffic.Rollout(R1, None), known={R2})
    assert split(decision) == {R2: 100}


def test_status_entry_has_kserve_field_names() -> None:
    entry = traffic.Target(R2, 10, latest=True, tag="latest").as_status()
    assert entry == {"revisionName": R2, "percent": 10, "latestRevision": True, "tag": "latest"}
