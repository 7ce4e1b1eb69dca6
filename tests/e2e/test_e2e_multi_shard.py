"""Beyond one host (issue 27): three shard processes around one real PostgreSQL, on loopback.

bench/multi_shard.py at a small size (its full run is 1,000 guilds over 4 shards; docs/benchmarks.md):
a burst answered exactly once each by the right process, a change of one's preferences seen by
the other shards within a second, kill -9 of a shard mid-burst losing no confirmed change, and a
PostgreSQL restart answered with one sentence while it is down (and every shard's /readyz saying
so) and nothing lost after.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.errors import UNREACHABLE
from tests.helpers import load_script
from tests.pg_server import SKIP_REASON, find_bin_dir

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

REPO = Path(__file__).resolve().parents[2]
GUILDS, SHARDS = 30, 3


@pytest.fixture(scope="module")
def bench():
    if find_bin_dir() is None:
        if os.environ.get("CI") == "true":  # .ci/run installs PostgreSQL: never skip there
            pytest.fail(SKIP_REASON)
        pytest.skip(SKIP_REASON)
    return load_script(REPO / "bench" / "multi_shard.py")


async def test_shards_on_one_postgresql_answer_once_share_changes_and_survive_kills(
        bench, tmp_path: Path) -> None:
    figures = await bench.run(GUILDS, SHARDS, 2, tmp_path)
    print(bench.report(figures))

    burst = figures["burst"]
    assert burst["sent"] == GUILDS
    assert burst["answered_exactly_once"] == GUILDS and burst["answered_by_another_shard"] == 0
    assert burst["settings_confirmed"] == GUILDS // 2 and burst["texts_written"] == GUILDS // 2

    across = figures["across_shards"]
    assert across["reads_per_round"] == SHARDS - 1
    assert across["within_1_s"], across

    killed = figures["kill_9"]
    assert killed["lost_confirmed_changes"] == 0
    # Some of the killed shard's changes were confirmed before it died, and others never answered.
    assert killed["victim_confirmed_before_kill"] >= 1 and killed["victim_unanswered"] >= 1, killed
    assert killed["victim_guilds_served_again"] == GUILDS // SHARDS

    down = figures["database_restart"]
    assert down["replies_while_down"] == [str(UNREACHABLE)] and down["confirmed_while_down"] == 0
    assert down["texts_written_while_down"] == down["shakespeare_while_down"] == 3 * SHARDS
    assert down["recover_max_s"] < 30 and down["lost_confirmed_changes"] == 0
    # Kubernetes' readiness probe: every shard ready before, unready for the database while it is
    # away (the one reason), ready again after.
    counts = ("ready_shards_before", "unready_shards_while_down", "ready_shards_after")
    assert [down[count] for count in counts] == [SHARDS] * 3, down
    assert all(reason == "database" for reason in down["readyz_while_down"]), down

    assert figures["exit_codes"] == [0] * SHARDS
    assert figures["emulator_rejected_calls"] == 0 and figures["contract_violations"] == 0
