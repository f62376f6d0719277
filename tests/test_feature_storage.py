"""Feature values are stored as dense vectors (migration 0006); the ``features`` view still
answers the long table's queries, a wide form serves models, and a job's completion writes
its windows whole, in its one transaction.

Each test runs the real stages on the shipped sample and writes through the real writer
(consumer.results.write inside queue.complete), against a real PostgreSQL.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import errors

from greenhouse_queue import queue
from greenhouse_queue.consumer import results
from greenhouse_queue.consumer.pipeline import JobResult, PipelineConfig, run_batch
from greenhouse_queue.consumer.stages.features import FeatureRows
from greenhouse_queue.producer import status

FIRST_DAY = datetime(2016, 1, 20, tzinfo=UTC)  # the sample's KnudJepsen days
WORKER = "storage-test"
LONG = (
    "SELECT job_id, site, window_start, window_end, signal, feature, value FROM features"
    " ORDER BY site, window_start, window_end, signal, feature"
)


@pytest.fixture
def sample(sample_db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(sample_db_url, autocommit=True) as conn:
        yield conn


def run_days(conn: psycopg.Connection, first: datetime, days: int) -> list[JobResult]:
    """Enqueues (or re-queues) one-day jobs and runs the stages for them as one batch."""
    windows = [(first + timedelta(days=d), first + timedelta(days=d + 1)) for d in range(days)]
    queue.enqueue(conn, windows)
    conn.execute(  # a re-run: the test plays the producer's `retry`
        "UPDATE jobs SET status = 'queued', attempts = 0, run_after = now()"
        " WHERE window_start >= %s AND window_start < %s",
        [first, first + timedelta(days=days)],
    )
    jobs = queue.claim(conn, worker=WORKER, batch=days, lease_seconds=300, device="cpu")
    assert len(jobs) == days
    return run_batch(conn, jobs, PipelineConfig())


def complete(
    conn: psycopg.Connection,
    batch: list[JobResult],
    write: Callable[[psycopg.Connection, set[int]], None] | None = None,
) -> set[int]:
    return queue.complete(
        conn,
        worker=WORKER,
        outcomes=[queue.Outcome(result.job) for result in batch],
        write_results=write or (lambda c, owned: results.write(c, batch, owned)),
    )


def long_rows(batch: list[JobResult]) -> list[tuple[Any, ...]]:
    """The rows the long table would hold for ``batch``, sorted as LONG sorts them."""
    rows = []
    for result in batch:
        f = result.features
        for i in range(len(f)):
            rows.append(
                (
                    result.job.id,
                    f.site[i],
                    _utc(f.window_start[i]),
                    _utc(f.window_end[i]),
                    f.signal[i],
                    f.feature[i],
                    float(f.value[i]),
                )
            )
    return sorted(rows, key=lambda row: row[1:6])


def _utc(moment: np.datetime64) -> datetime:
    return datetime.fromtimestamp(int(moment.astype("datetime64[s]").astype(int)), UTC)


def with_features(result: JobResult, rows: FeatureRows) -> JobResult:
    return replace(result, features=rows)


def only(rows: FeatureRows, keep: np.ndarray, rename: dict[str, str] | None = None) -> FeatureRows:
    """Some of ``rows``, features renamed: what another feature set would give."""
    feature = rows.feature[keep]
    if rename:
        feature = np.array([rename.get(name, name) for name in feature], dtype=object)
    return FeatureRows(
        site=rows.site[keep],
        window_start=rows.window_start[keep],
        window_end=rows.window_end[keep],
        signal=rows.signal[keep],
        feature=feature,
        value=rows.value[keep],
    )


# ----------------------------------------------------------------------------- writing


def test_the_features_view_holds_every_value_written_and_nothing_else(
    sample: psycopg.Connection,
) -> None:
    batch = run_days(sample, FIRST_DAY, 2)
    assert complete(sample, batch) == {result.job.id for result in batch}

    stored = sample.execute(LONG).fetchall()
    assert stored == long_rows(batch)
    assert len(stored) > 1000
    assert not any(value is None or math.isnan(value) for *_, value in stored)
    (vectors, values) = sample.execute(
        "SELECT count(*), sum(cardinality(vals)) FROM feature_vectors"
    ).fetchone()
    assert vectors < len(stored) / 10, "one vector holds a window's values of one signal"
    assert values > len(stored), "absent values are NULL elements of the vectors"


def test_rewriting_windows_with_another_feature_set_leaves_no_row_of_the_old_set(
    sample: psycopg.Connection,
) -> None:
    complete(sample, run_days(sample, FIRST_DAY, 2))
    old_layouts = sample.execute("SELECT DISTINCT layout FROM feature_layouts").fetchall()

    # The same windows again, with a set that has two of the old features, one new one, and
    # no site-level (greenhouse) features: every old vector of these windows must go.
    rerun = run_days(sample, FIRST_DAY, 2)
    other = []
    for result in rerun:
        f = result.features
        keep = np.isin(f.feature, ["mean", "maximum"]) & (f.signal != "greenhouse")
        renamed = only(f, np.isin(f.feature, ["minimum"]) & (f.signal != "greenhouse"))
        renamed = replace(renamed, feature=np.full(len(renamed), "absolute_maximum", object))
        other.append(with_features(result, FeatureRows.concat([only(f, keep), renamed])))
    complete(sample, other)

    assert sample.execute(LONG).fetchall() == long_rows(other)
    signals = sample.execute("SELECT DISTINCT signal FROM feature_vectors").fetchall()
    assert ("greenhouse",) not in signals
    new_layouts = sample.execute("SELECT DISTINCT layout FROM feature_layouts").fetchall()
    assert len(new_layouts) == len(old_layouts) + 1, "the other set got a layout of its own"


def test_rewriting_only_some_windows_keeps_the_others(sample: psycopg.Connection) -> None:
    first = run_days(sample, FIRST_DAY, 2)
    complete(sample, first)

    second = run_days(sample, FIRST_DAY + timedelta(days=1), 1)
    reduced = [with_features(r, only(r.features, r.features.feature == "mean")) for r in second]
    complete(sample, reduced)

    assert sample.execute(LONG).fetchall() == sorted(
        long_rows(first[:1]) + long_rows(reduced), key=lambda row: row[1:6]
    )


def test_a_completion_that_fails_after_writing_leaves_no_feature_and_no_layout(
    sample: psycopg.Connection,
) -> None:
    batch = run_days(sample, FIRST_DAY, 1)

    def write_then_fail(conn: psycopg.Connection, owned: set[int]) -> None:
        results.write(conn, batch, owned)
        assert conn.execute("SELECT count(*) FROM features").fetchone()[0] > 0
        raise RuntimeError("the connection broke after the COPY")

    with pytest.raises(RuntimeError, match="connection broke"):
        complete(sample, batch, write_then_fail)

    assert sample.execute("SELECT count(*) FROM feature_vectors").fetchone() == (0,)
    assert sample.execute("SELECT count(*) FROM feature_layouts").fetchone() == (0,)
    assert sample.execute("SELECT DISTINCT status FROM jobs").fetchall() == [("running",)]


def rerun_with(
    conn: psycopg.Connection, features: Callable[[FeatureRows], FeatureRows]
) -> list[JobResult]:
    """The first sample day again, its features replaced by ``features(them)``."""
    batch = [with_features(r, features(r.features)) for r in run_days(conn, FIRST_DAY, 1)]
    complete(conn, batch)
    return batch


def copies_of_the_mean(f: FeatureRows, count: int) -> FeatureRows:
    """``count`` features feature_000..., each a copy of the mean: a made-up feature set."""
    mean = only(f, f.feature == "mean")
    return FeatureRows.concat(
        replace(mean, feature=np.full(len(mean), f"feature_{k:03d}", object)) for k in range(count)
    )


def layouts(conn: psycopg.Connection) -> list[list[str]]:
    rows = conn.execute(
        "SELECT array_agg(feature ORDER BY position) FROM feature_layouts"
        " GROUP BY layout ORDER BY layout"
    ).fetchall()
    return [names for (names,) in rows]


def test_a_layout_is_reused_while_it_names_every_feature_with_few_to_spare(
    sample: psycopg.Connection,
) -> None:
    rerun_with(sample, lambda f: copies_of_the_mean(f, 100))
    # Two of those hundred: the hundred-name layout would leave 98 elements of every
    # vector always NULL, more than LAYOUT_SLACK, so the two get a layout of their own.
    rerun_with(sample, lambda f: copies_of_the_mean(f, 2))
    assert [len(names) for names in layouts(sample)] == [100, 2]
    # Forty of them: 60 unused names is within the slack, so the first layout serves.
    last = rerun_with(sample, lambda f: copies_of_the_mean(f, 40))

    assert [len(names) for names in layouts(sample)] == [100, 2]
    assert sample.execute(LONG).fetchall() == long_rows(last)
    used = sample.execute("SELECT DISTINCT layout FROM feature_vectors").fetchall()
    assert used == [(1,)]


def test_a_new_layout_takes_in_the_names_of_a_close_one_so_both_batches_fit_it(
    sample: psycopg.Connection,
) -> None:
    first = rerun_with(sample, lambda f: f)
    # A batch without one of the features: the first layout serves it.
    rerun_with(sample, lambda f: only(f, f.feature != "kurtosis"))
    assert len(layouts(sample)) == 1

    # A batch without it but with a new feature: its new layout also names the first
    # layout's features (kurtosis included), so batches of either kind fit it.
    def another(f: FeatureRows) -> FeatureRows:
        extra = only(f, f.feature == "mean", {"mean": "extra"})
        return FeatureRows.concat([only(f, f.feature != "kurtosis"), extra])

    last = rerun_with(sample, another)

    first_names, new_names = layouts(sample)
    assert set(new_names) == {*first_names, "extra"}
    assert set(first_names) == {name for r in first for name in r.features.feature}
    assert sample.execute(LONG).fetchall() == long_rows(last)


# ----------------------------------------------------------------------------- reading


def test_the_readme_query_for_one_feature_across_windows_answers_unchanged(
    sample: psycopg.Connection,
) -> None:
    batch = run_days(sample, FIRST_DAY, 3)
    complete(sample, batch)

    got = sample.execute(
        "SELECT site, window_start, value FROM features"
        " WHERE signal = 'air_temp_c' AND feature = 'mean' ORDER BY site, window_start"
    ).fetchall()

    want = [
        (site, start, value)
        for _, site, start, _, signal, feature, value in long_rows(batch)
        if signal == "air_temp_c" and feature == "mean"
    ]
    assert got == want and len(got) >= 12


def test_producer_status_counts_the_values_the_features_view_holds(
    sample: psycopg.Connection,
) -> None:
    batch = run_days(sample, FIRST_DAY, 2)
    complete(sample, batch)

    (values, sites, site_windows) = sample.execute(
        "SELECT count(*), count(DISTINCT site), count(DISTINCT (site, window_start)) FROM features"
    ).fetchone()
    assert values == len(long_rows(batch))
    assert f"features: {values} values for {site_windows} site-windows at {sites} sites" in (
        status.render(sample).splitlines()
    )


POINT_QUERY = """
SELECT window_start, value FROM features
WHERE site = %(site)s AND signal = %(signal)s AND feature = %(feature)s
  AND window_start >= %(from)s AND window_start < %(to)s
ORDER BY window_start
"""
EXPLAIN_POINT_QUERY = "EXPLAIN (FORMAT JSON) " + POINT_QUERY
POINT = {
    "site": "knudjepsen-afd3",
    "signal": "air_temp_c",
    "feature": "mean",
    "from": FIRST_DAY,
    "to": FIRST_DAY + timedelta(days=2),
}


def scans(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node] if "Scan" in node["Node Type"] else []
    for child in node.get("Plans", []):
        found.extend(scans(child))
    return found


def test_one_site_signal_feature_and_time_range_reads_a_range_of_the_vector_key(
    sample: psycopg.Connection,
) -> None:
    """The plan is pinned with enable_seqscan off, after ANALYZE, as the claim's is (see
    tests/test_claim_plan.py): the check does not hang on a small table's cost estimates."""
    complete(sample, run_days(sample, FIRST_DAY, 3))
    sample.execute("ANALYZE feature_vectors, feature_layouts")

    with sample.transaction(force_rollback=True):
        sample.execute("SET LOCAL enable_seqscan = off")
        (plan,) = sample.execute(EXPLAIN_POINT_QUERY, POINT).fetchone()
    vector_scans = [
        s for s in scans(plan[0]["Plan"]) if s.get("Relation Name") == "feature_vectors"
    ]

    assert [s["Node Type"] for s in vector_scans] == ["Index Scan"], vector_scans
    (scan,) = vector_scans
    assert scan["Index Name"] == "feature_vectors_key"
    condition = scan["Index Cond"]
    assert "site =" in condition and "window_start >=" in condition, condition
    assert "window_start <" in condition and "signal =" in condition, condition
    got = sample.execute(POINT_QUERY, POINT).fetchall()
    assert len(got) == 8  # two days of 6-hourly windows


# ----------------------------------------------------------------------------- wide form


def test_the_wide_form_has_a_column_per_signal_and_feature_with_the_long_values(
    sample: psycopg.Connection,
) -> None:
    batch = run_days(sample, FIRST_DAY, 2)
    complete(sample, batch)
    signals = ["air_temp_c", "rh_percent", "greenhouse"]
    features = ["mean", "quantile__q_0.95", "lamp_on_hours"]

    (statement,) = sample.execute(
        "SELECT features_wide_query(%s, %s)", [signals, features]
    ).fetchone()
    cursor = sample.execute(statement)
    columns = [column.name for column in cursor.description]
    rows = cursor.fetchall()

    assert columns == [
        "site",
        "window_start",
        "window_end",
        *(f"{signal}__{feature}" for signal in signals for feature in features),
    ]
    want: dict[tuple[Any, ...], dict[str, float]] = {}
    for _, site, start, end, signal, feature, value in long_rows(batch):
        if signal in signals:
            want.setdefault((site, start, end), {})
            if feature in features:
                want[(site, start, end)][f"{signal}__{feature}"] = value
    assert len(rows) == len(want) > 0
    for row in rows:
        assert dict(zip(columns[3:], row[3:], strict=True)) == {
            name: want[tuple(row[:3])].get(name) for name in columns[3:]
        }
    assert any(row[columns.index("greenhouse__lamp_on_hours")] is not None for row in rows)


def test_a_wide_view_is_created_once_and_never_replaced(sample: psycopg.Connection) -> None:
    complete(sample, run_days(sample, FIRST_DAY, 1))
    args = [["air_temp_c", "co2_ppm"], ["mean", "standard_deviation"]]

    sample.execute("SELECT features_wide_view('climate', %s, %s)", args)
    rows = sample.execute("SELECT * FROM climate").fetchall()
    assert len(rows) >= 4 and len(rows[0]) == 3 + 4
    with pytest.raises(errors.DuplicateTable):
        sample.execute("SELECT features_wide_view('climate', %s, %s)", args)
    with pytest.raises(errors.DuplicateTable):
        sample.execute("SELECT features_wide_view('features', %s, %s)", args)


def test_the_wide_form_allows_1600_columns_and_refuses_more(conn: psycopg.Connection) -> None:
    features = [f"f{k:04d}" for k in range(1597)]
    (statement,) = conn.execute("SELECT features_wide_query(%s, %s)", [["s"], features]).fetchone()
    assert len(conn.execute(statement).description) == 1600

    with pytest.raises(errors.TooManyColumns) as refused:
        conn.execute("SELECT features_wide_query(%s, %s)", [["s", "t"], features[:799]])
    assert refused.value.diag.message_primary == (
        "features_wide: 2 signals x 799 features + 3 key columns = 1601 columns, "
        "more than the 1600 a PostgreSQL view can have"
    )
    assert refused.value.diag.message_hint == (
        "Choose fewer signals or features, or split them over several views."
    )


@pytest.mark.parametrize(
    ("signals", "features", "error", "message"),
    [
        (
            ["outside_radiation_w_m2"],
            ['change_quantiles__f_agg_"mean"__isabs_True__qh_0.8__ql_0.2'],
            errors.NameTooLong,
            "features_wide: column name outside_radiation_w_m2__change_quantiles__f_agg_"
            '"mean"__isabs_True__qh_0.8__ql_0.2 is 82 bytes, more than the 63 PostgreSQL keeps',
        ),
        (["air_temp_c", "air_temp_c"], ["mean"], errors.InvalidParameterValue, "named twice"),
        ([], ["mean"], errors.InvalidParameterValue, "at least one signal and one feature"),
        (["air_temp_c"], [None], errors.InvalidParameterValue, "is NULL"),
    ],
)
def test_the_wide_form_refuses_what_a_view_cannot_hold(
    conn: psycopg.Connection,
    signals: list[str],
    features: list[str | None],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error) as refused:
        conn.execute("SELECT features_wide_query(%s::text[], %s::text[])", [signals, features])
    assert message in str(refused.value)
