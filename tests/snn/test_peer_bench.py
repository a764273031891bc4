"""``snn bench --peer CMD``: the Yin-Yang step against a peer benchmark in rounds, back to back. The peer here is a
small script that speaks the peers' contract (``--out FILE``, JSON with ``train_samples_per_s``), as
../shared/peers/bench_jaxsnn.py does; jaxsnn itself is not installed where the tests run."""

import re
import subprocess
import sys

from snn.peer_bench import Round, format_summary

PEER = """
import json, pathlib, sys
calls = pathlib.Path(sys.argv[1]); calls.write_text(calls.read_text() + "x" if calls.exists() else "x")
if len(calls.read_text()) > int(sys.argv[2]):
    sys.exit("peer: out of memory")
if sys.argv[3] == "json":
    json.dump({"train_samples_per_s": 1250.0}, open(sys.argv[sys.argv.index("--out") + 1], "w"))
"""


def _bench(tmp_path, *, succeed=99, writes="json", extra=()):
    script = tmp_path / "peer.py"
    script.write_text(PEER)
    peer = f"{sys.executable} {script} {tmp_path / 'calls'} {succeed} {writes}"
    return subprocess.run(
        [sys.executable, "-m", "snn.cli", "bench", "--peer", peer, "--seconds", "0.05", "--threads", "1", *extra],
        capture_output=True, text=True, timeout=600,
    )


def test_each_round_runs_the_peer_and_reports_the_ratio_of_the_two_figures(tmp_path):
    out = _bench(tmp_path, extra=("--rounds", "3"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "calls").read_text() == "xxx"  # the peer ran once per round
    rounds = re.findall(r"round (\d)/3 +peer +([\d,]+) .* snn +([\d,]+) .* ratio +([\d.]+)x", out.stdout)
    assert [r[0] for r in rounds] == ["1", "2", "3"]
    ratios = []
    for _, peer, ours, ratio in rounds:
        peer, ours = float(peer.replace(",", "")), float(ours.replace(",", ""))
        assert peer == 1250 and ours > 0
        assert abs(float(ratio) - ours / peer) < 0.01
        ratios.append(float(ratio))
    median = float(re.search(r"median ([\d.]+)x", out.stdout.split("summary:")[1]).group(1))
    assert abs(median - sorted(ratios)[1]) < 0.011


def test_a_failing_peer_is_named_and_the_finished_rounds_are_kept(tmp_path):
    out = _bench(tmp_path, succeed=1, extra=("--rounds", "3"))
    assert out.returncode == 1
    assert "exited with status 1" in out.stderr and "peer: out of memory" in out.stderr
    assert "round 1/3" in out.stdout and "round 2/3" not in out.stdout
    assert "summary (rounds finished before the error)" in out.stdout and "over 1 round(s)" in out.stdout


def test_a_peer_that_writes_no_figure_is_refused_with_the_contract(tmp_path):
    out = _bench(tmp_path, writes="nothing", extra=("--rounds", "1"))
    assert out.returncode == 1
    assert "train_samples_per_s" in out.stderr and "--out FILE" in out.stderr


def test_peer_needs_the_yinyang_network_and_a_round(tmp_path):
    for extra in (("--network", "mnist"), ("--rounds", "0")):
        out = _bench(tmp_path, extra=extra)
        assert out.returncode == 2 and "--network yinyang" in out.stderr


def test_summary_is_the_median_ratio():
    rounds = [Round(1000.0, 8000.0), Round(1000.0, 10000.0), Round(500.0, 4500.0)]
    assert "median 9.00x (8.00-10.00x over 3 round(s))" in format_summary(rounds)
