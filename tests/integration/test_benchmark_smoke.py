"""The benchmark suite runs end to end (a smoke run: it checks it works, not its timings)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_quick_benchmark_run_measures_every_target(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("FLERO_LEDGER_DB", None)
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert len(figures["targets"]) == 20
    wrk = shutil.which("wrk") is not None  # without it the serve figures are skipped, said so
    for target in figures["targets"]:
        through_serve = target["target"].startswith("serve ")
        assert isinstance(target["measured"], float) or (through_serve and not wrk), target
    if wrk:
        for name in ("serve.static_rps", "serve.api_mfa_rps", "serve.api_key_sign_ins_rps"):
            assert figures["figures"][name]["median"] > 0
        assert figures["figures"]["serve.api_mfa_non_2xx"]["median"] == 0, run.stdout[-3000:]
    else:
        assert "wrk is not installed" in run.stdout
    for name in (
        "pg.baseline_a_insert",
        "pg.baseline_b_library",
        "pg.baseline_c_copy",
        "pg.login_1_client",
        "sqlite.login_1_client",
        "pg.verify_store",
        "pg.signin_long_vs_fresh",
        "pg.sessions_list_p50",
        "sqlite.signin_long_vs_fresh",
        "sqlite.sessions_list_p50",
        "pg.password_sign_ins_old_params",
        "pg.password_sign_ins_new_params",
        "pg.million_build_s",
        "pg.million_rebuild",
        "pg.million_rss",
        "pg.million_verify",
    ):
        assert figures["figures"][name]["median"] > 0
    assert "PASS" in run.stdout or "FAIL" in run.stdout
