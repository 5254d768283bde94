"""The scaling simulation of benchmarks/fullrun.py on DAGs whose answers are known by hand, and on dvc.yaml's own."""

from __future__ import annotations

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT))  # benchmarks/ is not an installed package
from benchmarks import schedule  # noqa: E402

# a -> b -> d, a -> c -> d, e alone: times in seconds
UPSTREAM = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": []}
SECONDS = {"a": 2, "b": 3, "c": 1, "d": 1, "e": 4}


def test_critical_path_is_the_longest_chain():
    assert schedule.critical_path(SECONDS, UPSTREAM) == (6, ["a", "b", "d"])


def test_one_worker_takes_the_sum_and_more_workers_reach_the_floor():
    assert schedule.simulate(SECONDS, UPSTREAM, 1) == 11
    # two workers: a|e, then b|c, then d; the longest chain (a, b, d) goes first, e fills the gap
    assert schedule.simulate(SECONDS, UPSTREAM, 2) == 6
    assert schedule.simulate(SECONDS, UPSTREAM, 16) == 6


def test_the_pipelines_dag_comes_from_dvc():
    from rnnlab.dvcrun import stage_graph

    graph = stage_graph(ROOT)
    assert graph["sms_train@lstm-glove-packed"] == ["sms_embeddings@glove", "sms_prepare", "sms_vocab"]
    assert "sms_evaluate@lstm-glove-packed" in {s for s, ups in graph.items() if "sms_train@lstm-glove-packed" in ups}
    one = schedule.simulate(dict.fromkeys(graph, 1.0), graph, 1)
    assert one == len(graph) and schedule.simulate(dict.fromkeys(graph, 1.0), graph, 64) == schedule.critical_path(
        dict.fromkeys(graph, 1.0), graph)[0]


def test_a_stage_takes_as_many_cores_as_its_threads_and_none_starves_it():
    # on 2 cores, two independent 2-thread stages run one after the other; alone on 1 core a
    # 2-thread stage still runs (the runner clamps it); a ready 2-thread stage with the longer
    # chain is not overtaken by 1-thread stages that would take the core it waits for
    upstream = {"x": [], "y": [], "z": []}
    assert schedule.simulate({"x": 5, "y": 5, "z": 0}, upstream, 2, {"x": 2, "y": 2}) == 10
    assert schedule.simulate({"x": 5, "y": 5, "z": 0}, upstream, 1, {"x": 2, "y": 2}) == 10
    chain = {"a": [], "big": ["a"], "s1": [], "s2": []}
    seconds = {"a": 1, "big": 10, "s1": 3, "s2": 3}
    # a and s1 start; at t=1 big is ready and needs both cores: s2 waits behind it
    assert schedule.simulate(seconds, chain, 2, {"big": 2}) == 1 + 2 + 10 + 3
    assert schedule.simulate(seconds, chain, 2) == 11  # all 1-thread: big beside s1 then s2
    # a 1-s stage fits in the 2 s that big waits for s1 anyway: it backfills the idle core
    assert schedule.simulate({**seconds, "s2": 1}, chain, 2, {"big": 2}) == 1 + 2 + 10
