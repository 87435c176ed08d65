import random

import pytest

from aifactory_hub.policy import Candidate, Request, decide


def cand(pid: int, score: float, *requests: tuple[str, float, float]) -> Candidate:
    reqs = tuple(Request(partition=p, gpu_hours=g, cpu_hours=c) for p, g, c in requests)
    return Candidate(proposal_id=pid, score=score, requests=reqs)


def summary(decisions) -> list[tuple[int, int, str, float]]:
    return [(d.proposal_id, d.rank, d.status, d.fraction) for d in decisions]


def hours(decision) -> list[tuple[str, float, float]]:
    return [(r.partition, r.gpu_hours, r.cpu_hours) for r in decision.granted]


PLENTY = {"gpu": (1e6, 1e6), "cpu": (0.0, 1e6)}


def test_equal_scores_share_a_rank_and_the_next_rank_skips():
    candidates = [
        cand(1, 4.5, ("gpu", 10, 0)),
        cand(2, 4.0, ("gpu", 10, 0)),
        cand(3, 4.0, ("gpu", 10, 0)),
        cand(4, 3.5, ("gpu", 10, 0)),
    ]
    assert [(d.proposal_id, d.rank, d.status) for d in decide(candidates, PLENTY)] == [
        (1, 1, "granted"),
        (2, 2, "granted"),
        (3, 2, "granted"),
        (4, 4, "granted"),
    ]


def test_grants_in_rank_order_until_capacity_runs_out():
    candidates = [
        cand(7, 3.0, ("gpu", 20, 0)),
        cand(5, 4.5, ("gpu", 60, 0)),
        cand(9, 3.5, ("gpu", 40, 0)),
        cand(6, 4.0, ("gpu", 30, 0)),
    ]
    decisions = decide(candidates, {"gpu": (100, 0)})
    assert summary(decisions) == [
        (5, 1, "granted", 1.0),
        (6, 2, "granted", 1.0),
        (9, 3, "partial", 0.25),  # 10 of 40 left: exactly min_fraction
        (7, 4, "waitlisted", 0.0),
    ]
    assert hours(decisions[2]) == [("gpu", 10, 0)]
    assert decisions[3].granted == ()


def test_a_granted_proposal_gets_exactly_what_it_asked_for():
    asked = cand(1, 5.0, ("gpu", 12.5, 40), ("cpu", 0, 300))
    [decision] = decide([asked], PLENTY)
    assert decision.status == "granted" and decision.granted == asked.requests


def test_partial_grant_scales_all_requests_by_the_scarcest_resource():
    first = cand(1, 5.0, ("gpu", 80, 0))
    second = cand(2, 4.0, ("gpu", 40, 400), ("cpu", 0, 1000))
    # After the first: 20 of 40 GPU hours (0.5), 2000 of 400 CPU hours on gpu, 300 of 1000 on cpu.
    decisions = decide([first, second], {"gpu": (100, 2000), "cpu": (0, 300)})
    partial = decisions[1]
    assert (partial.status, partial.fraction) == ("partial", 0.3)
    assert hours(partial) == [("gpu", 12, 120), ("cpu", 0, 300)]


def test_below_min_fraction_is_waitlisted_keeps_rank_and_the_next_one_gets_the_capacity():
    candidates = [
        cand(1, 5.0, ("gpu", 80, 0)),
        cand(2, 4.0, ("gpu", 100, 0)),  # 20 of 100 left: 0.2 < 0.25
        cand(3, 3.0, ("gpu", 20, 0)),
    ]
    assert summary(decide(candidates, {"gpu": (100, 0)})) == [
        (1, 1, "granted", 1.0),
        (2, 2, "waitlisted", 0.0),
        (3, 3, "granted", 1.0),
    ]
    assert summary(decide(candidates, {"gpu": (100, 0)}, min_fraction=0.1))[1:] == [
        (2, 2, "partial", 0.2),
        (3, 3, "waitlisted", 0.0),
    ]


def test_tied_proposals_share_the_last_capacity_in_proportion_to_their_requests():
    candidates = [
        cand(1, 5.0, ("gpu", 10, 0)),
        cand(3, 4.0, ("gpu", 60, 0)),
        cand(2, 4.0, ("gpu", 120, 0)),
    ]
    decisions = decide(candidates, {"gpu": (100, 0)})
    assert summary(decisions) == [
        (1, 1, "granted", 1.0),
        (2, 2, "partial", 0.5),
        (3, 2, "partial", 0.5),
    ]
    assert [hours(d) for d in decisions[1:]] == [[("gpu", 60, 0)], [("gpu", 30, 0)]]


def test_ties_are_not_broken_by_proposal_id():
    small_id_big = [cand(1, 4.0, ("gpu", 120, 0)), cand(2, 4.0, ("gpu", 60, 0))]
    big_id_big = [cand(2, 4.0, ("gpu", 120, 0)), cand(1, 4.0, ("gpu", 60, 0))]
    fractions = {d.proposal_id: d.fraction for d in decide(small_id_big, {"gpu": (90, 0)})}
    swapped = {d.proposal_id: d.fraction for d in decide(big_id_big, {"gpu": (90, 0)})}
    assert fractions == swapped == {1: 0.5, 2: 0.5}


def test_a_tied_proposal_is_not_held_back_by_a_resource_it_does_not_use():
    gpu_user = cand(1, 4.0, ("gpu", 100, 0))
    cpu_user = cand(2, 4.0, ("cpu", 0, 100))
    assert summary(decide([gpu_user, cpu_user], {"gpu": (50, 0), "cpu": (0, 500)})) == [
        (1, 1, "partial", 0.5),
        (2, 1, "granted", 1.0),
    ]


def test_what_a_waitlisted_tied_proposal_would_get_goes_back_to_the_others():
    # Sharing gives 1 only 0.2 (GPU is short): it is waitlisted, and 2 then gets all the CPU.
    both = cand(1, 4.0, ("gpu", 100, 0), ("cpu", 0, 100))
    cpu_only = cand(2, 4.0, ("cpu", 0, 100))
    assert summary(decide([both, cpu_only], {"gpu": (20, 0), "cpu": (0, 100)})) == [
        (1, 1, "waitlisted", 0.0),
        (2, 1, "granted", 1.0),
    ]


def test_a_partition_without_capacity_left_waitlists():
    assert summary(decide([cand(1, 4.0, ("big", 10, 0))], {"gpu": (100, 0)})) == [
        (1, 1, "waitlisted", 0.0)
    ]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="twice"):
        decide([cand(1, 4.0, ("gpu", 1, 0)), cand(1, 3.0, ("gpu", 1, 0))], PLENTY)
    with pytest.raises(ValueError, match="min_fraction"):
        decide([], PLENTY, min_fraction=1.5)
    assert decide([], PLENTY) == []


def random_call(rng: random.Random) -> tuple[list[Candidate], dict[str, tuple[float, float]]]:
    candidates = []
    for pid in range(1, rng.randint(2, 14)):
        requests = [("gpu", rng.choice([0, 10, 25, 80, 300]), rng.choice([0, 100, 1000]))]
        if rng.random() < 0.5:
            requests.append(("cpu", 0, rng.choice([50, 500, 5000])))
        if requests[0][1:] == (0, 0):
            requests[0] = ("gpu", 5, 0)
        # Few distinct scores, so that ties are common.
        candidates.append(cand(pid, rng.choice([3.0, 3.5, 4.0, 4.5]), *requests))
    capacity = {"gpu": (rng.choice([50, 200, 600]), rng.choice([500, 3000])), "cpu": (0, 4000)}
    return candidates, capacity


@pytest.mark.parametrize("seed", range(40))
def test_input_order_does_not_change_decisions_and_capacity_holds(seed):
    rng = random.Random(seed)
    candidates, capacity = random_call(rng)
    decisions = decide(candidates, capacity)
    for _ in range(5):
        shuffled = rng.sample(candidates, len(candidates))
        assert decide(shuffled, capacity) == decisions

    asked = {c.proposal_id: c for c in candidates}
    for d in decisions:
        assert d.rank == 1 + sum(c.score > asked[d.proposal_id].score for c in candidates)
        if d.status == "waitlisted":
            assert (d.fraction, d.granted) == (0, ())
            continue
        assert d.fraction >= 0.25 and (d.status == "granted") == (d.fraction == 1)
        for got, want in zip(d.granted, asked[d.proposal_id].requests, strict=True):
            assert got.gpu_hours == pytest.approx(want.gpu_hours * d.fraction, abs=0.011)
            assert got.cpu_hours == pytest.approx(want.cpu_hours * d.fraction, abs=0.011)
    for partition, (gpu_left, cpu_left) in capacity.items():
        granted = [r for d in decisions for r in d.granted if r.partition == partition]
        assert sum(r.gpu_hours for r in granted) <= gpu_left + 1e-9
        assert sum(r.cpu_hours for r in granted) <= cpu_left + 1e-9
    assert [(d.rank, d.proposal_id) for d in decisions] == sorted(
        (d.rank, d.proposal_id) for d in decisions
    )
