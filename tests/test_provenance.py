"""Data you can trust, at load time, on the real exports: every value knows its file,
conflicting values are counted and settled by a rule that does not depend on the order
the files came in, a corrected file can replace values, and numbers that are not finite
are bad rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from greenhouse_queue.consumer.inputs import read_inputs
from greenhouse_queue.consumer.stages.aggregate import aggregate
from greenhouse_queue.producer.load import LoadError, load_files, read_file
from greenhouse_queue.schema import downgrade
from tests.conftest import CONSUMER, PRODUCER, SAMPLE, migrate, run_cli

# Real lines, unchanged, of two KnudJepsen exports that both carry the humidity deficit of
# compartment 3 (local day 2016-09-05; tests/fixtures/README.md says how they were cut).
REAL = Path(__file__).resolve().parent / "fixtures" / "real"
CLIMATE = REAL / "knudjepsen" / "NO3_LAMPEGRP_1.csv"
EXTRA = REAL / "knudjepsen" / "NO3NO4.extra.csv"
DEFICIT = (
    "SELECT time, value FROM readings"
    " WHERE site = 'knudjepsen-afd3' AND signal = 'humidity_deficit_g_m3' ORDER BY time"
)


def raw_values(conn: psycopg.Connection) -> list[tuple]:
    """Every stored raw value, in key order: what the stages will read."""
    return conn.execute(
        "SELECT 'r', site, signal, time, value FROM readings"
        " UNION ALL SELECT 'w', location, signal, time, value FROM weather ORDER BY 1, 2, 3, 4"
    ).fetchall()


def test_every_file_is_a_source_and_every_value_carries_its_id(conn):
    (climate,) = load_files(conn, [CLIMATE])
    (extra,) = load_files(conn, [EXTRA])
    sources = conn.execute(
        "SELECT id, name, length(sha256), size, format, rows, added FROM sources ORDER BY id"
    ).fetchall()
    size = {path.name: path.stat().st_size for path in (CLIMATE, EXTRA)}
    assert sources == [
        (climate.source, CLIMATE.name, 64, size[CLIMATE.name], "knudjepsen", 2880, 2880),
        (extra.source, EXTRA.name, 64, size[EXTRA.name], "knudjepsen", 2304, 2016),
    ]
    unknown = conn.execute(
        "SELECT count(*) FROM readings WHERE source_id IS NULL OR source_id NOT IN"
        " (SELECT id FROM sources)"
    ).fetchone()[0]
    assert unknown == 0
    by_file = dict(
        conn.execute(
            "SELECT s.name, count(*) FROM readings r JOIN sources s ON s.id = r.source_id"
            " WHERE r.signal = 'rh_percent' GROUP BY 1"
        ).fetchall()
    )
    assert by_file == {"NO3NO4.extra.csv": 576}  # two compartments x 288 five-minute rows


def test_conflicting_values_are_counted_per_signal_with_examples(conn):
    # The two exports disagree on 227 of the day's 288 deficit values (3.62 vs 3.67 ...).
    load_files(conn, [CLIMATE])
    (report,) = load_files(conn, [EXTRA])
    assert [(c.signal, c.count) for c in report.changes] == [("humidity_deficit_g_m3", 227)]
    first = report.changes[0].examples[0]
    assert (first.key, first.old_value, first.old_file, first.new_value) == (
        "knudjepsen-afd3",
        3.62,
        "NO3_LAMPEGRP_1.csv",
        3.67,
    )
    text = str(report)
    assert "conflicts: 227 values disagree" in text
    assert "humidity_deficit_g_m3: 227" in text and "3.62 (NO3_LAMPEGRP_1.csv) -> 3.67" in text
    kept = conn.execute(
        "SELECT count(DISTINCT (key, time)), count(*) FROM conflicts"
        " WHERE tbl = 'readings' AND signal = 'humidity_deficit_g_m3'"
    ).fetchone()
    assert kept == (227, 454)  # both files' values of each disputed key
    assert (
        conn.execute("SELECT conflicts FROM sources WHERE name = %s", (EXTRA.name,)).fetchone()[0]
        == 227
    )


@pytest.mark.parametrize("order", [(CLIMATE, EXTRA), (EXTRA, CLIMATE)], ids=["LE", "EL"])
def test_a_disputed_value_is_the_mean_of_the_files_values(conn, order):
    load_files(conn, list(order))
    stored = dict(conn.execute(DEFICIT).fetchall())
    at = min(stored)  # 2016-09-04 23:00 UTC: both files say 3.48
    assert stored[at] == 3.48
    disputed = conn.execute(
        "SELECT time, array_agg(value ORDER BY value) FROM conflicts GROUP BY time ORDER BY time"
    ).fetchall()
    time, values = disputed[0]  # 23:05: 3.62 and 3.67
    assert values == [3.62, 3.67] and stored[time] == pytest.approx(3.645, abs=1e-12)


def test_two_load_orders_give_identical_stored_values_and_identical_features(db_url, tmp_path):
    # Before: whichever file came first won, so the orders stored 227 different values.
    results = []
    for order in ((CLIMATE, EXTRA), (EXTRA, CLIMATE)):
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(
                "TRUNCATE readings, weather, spot_prices, sites, sources, source_signals,"
                " conflicts, jobs, features, resampled, changepoints"
            )
        loaded = run_cli(PRODUCER, db_url, "load", *map(str, order))
        assert loaded.returncode == 0, loaded.stderr
        day = ("--from", "2016-09-05", "--to", "2016-09-05")
        assert run_cli(PRODUCER, db_url, "enqueue", *day).returncode == 0
        drained = run_cli(CONSUMER, db_url, "run", "--drain", "--device", "cpu")
        assert drained.returncode == 0, drained.stdout + drained.stderr
        with psycopg.connect(db_url) as conn:
            values = raw_values(conn)
            features = conn.execute(
                "SELECT site, window_start, signal, feature, value FROM features"
                " ORDER BY 1, 2, 3, 4"
            ).fetchall()
        results.append((values, features))
    (values_a, features_a), (values_b, features_b) = results
    assert len(values_a) == 4896 and values_a == values_b
    deficit = [f for f in features_a if f[2] == "humidity_deficit_g_m3" and f[3] == "mean"]
    assert deficit  # the disputed signal has features, and they are the same both ways
    assert len(features_a) > 1000 and features_a == features_b


def test_a_corrected_file_replaces_the_values_it_carries_and_counts_them(conn):
    load_files(conn, [CLIMATE, EXTRA])  # disputed: the mean of both
    (report,) = load_files(conn, [EXTRA], replace=True)
    assert report.replace and report.rows_changed == 227
    assert [(c.signal, c.count) for c in report.changes] == [("humidity_deficit_g_m3", 227)]
    assert "replaced: 227 stored values changed" in str(report)
    stored = dict(conn.execute(DEFICIT).fetchall())
    extra_lines = EXTRA.read_text(encoding="utf-8").splitlines()[3:]
    assert [stored[t] for t in sorted(stored)] == [
        float(line.split(";")[1].replace(",", ".")) for line in extra_lines
    ]
    assert conn.execute("SELECT count(*) FROM conflicts").fetchone()[0] == 0  # settled


def test_a_replaced_value_stays_when_a_disagreeing_file_comes_later(conn):
    load_files(conn, [EXTRA], replace=True)
    (later,) = load_files(conn, [CLIMATE])
    assert later.conflicts == 227  # counted and kept in conflicts ...
    stored = dict(conn.execute(DEFICIT).fetchall())
    assert stored[min(t for t in stored if t.minute == 5)] == 3.67  # ... but EXTRA's stays


def test_a_byte_identical_file_is_a_no_op_and_says_so(db_url):
    first = run_cli(PRODUCER, db_url, "load", str(CLIMATE))
    again = run_cli(PRODUCER, db_url, "load", str(CLIMATE))
    assert first.returncode == again.returncode == 0
    assert "2,880 rows loaded" in first.stdout
    assert "nothing to do, byte-identical to source 1 (NO3_LAMPEGRP_1.csv" in again.stdout
    listed = run_cli(PRODUCER, db_url, "sources")
    assert listed.returncode == 0
    assert listed.stdout.count("NO3_LAMPEGRP_1.csv") == 1 and "2,880 values" in listed.stdout


def test_a_signal_the_limits_reject_is_reported_at_load_and_in_status(db_url):
    # KnudJepsen's CO2 sensor reads 0 ppm, every sample (102,262 in the full export).
    path = SAMPLE / "knudjepsen" / "NO3_LAMPEGRP_1.csv"
    co2 = read_file(path)["readings"].query("signal == 'co2_ppm'").value
    assert len(co2) > 4000 and (co2 == 0).all()
    loaded = run_cli(PRODUCER, db_url, "load", str(path))
    assert loaded.returncode == 0, loaded.stderr
    line = (
        f"co2_ppm at knudjepsen-afd3: {len(co2):,} of {len(co2):,} values (100 %) outside 100..5000"
    )
    assert line in loaded.stdout
    status = run_cli(PRODUCER, db_url, "status")
    assert status.returncode == 0
    assert "signals mostly outside the physical limits" in status.stdout
    assert f"{line} (NO3_LAMPEGRP_1.csv)" in status.stdout
    assert "air_temp_c" not in status.stdout  # in limits: not reported


def test_a_number_that_is_not_finite_is_a_bad_row(conn, tmp_path):
    # Before: "1e999" was stored as Infinity.
    lines = CLIMATE.read_bytes().splitlines(keepends=True)
    fields = lines[10].split(b";")
    fields[1] = b"1e999"  # the air temperature of one real row
    lines[10] = b";".join(fields)
    path = tmp_path / "NO3_LAMPEGRP_1.csv"
    path.write_bytes(b"".join(lines))
    with pytest.raises(LoadError, match=r":11: .*not a finite number"):
        load_files(conn, [path])
    (report,) = load_files(conn, [path], skip_bad_rows=True)
    assert [line for line, _ in report.bad_rows] == [11]
    stored = conn.execute("SELECT count(*) FROM readings WHERE value = 'Infinity'").fetchone()
    assert stored == (0,)


def test_json_infinity_and_overflow_are_bad_rows_too(conn, tmp_path):
    # Python's json decodes both Infinity and 1e999 to float("inf")
    path = tmp_path / "temperature_sunradiation_x_2014.json"
    e = 1395615600000  # epoch milliseconds, 10 minutes apart
    temperature = f"[[{e}, 4.5], [{e + 600000}, Infinity], [{e + 1200000}, 1e999]]"
    path.write_text(
        f'[{{"uuid": "t", "Readings": {temperature}}}, {{"uuid": "r", "Readings": [[{e}, 120.0]]}}]'
    )
    (report,) = load_files(conn, [path], skip_bad_rows=True)
    assert [line for line, _ in report.bad_rows] == [2, 3]
    assert all("not a finite number" in reason for _, reason in report.bad_rows)
    assert report.rows_loaded == 2


CELL5 = REAL / "aarslev" / "output-2014-04-01-00-00.csv"  # real cell 5 lines, 2014-04-07..09
# A second cell's export of the same hours; its outside radiation reads up to 121 W/m²
# above cell 5's (made up: the shared data holds only cell 5, see tests/fixtures/README.md).
CELL6 = REAL.parent / "aarslev_celle6.csv"


def test_two_cells_keep_their_own_outside_weather(conn):
    # Before: both exports' outside columns went to location "aarslev"; cell 6's were
    # "already present", and its outside features were computed on cell 5's sensors.
    reports = load_files(conn, [CELL5, CELL6])
    assert [r.locations for r in reports] == [["aarslev-celle5"], ["aarslev-celle6"]]
    assert reports[1].rows_already_present == 0 and reports[1].rows_loaded == 24
    sites = conn.execute("SELECT site, location FROM sites ORDER BY 1").fetchall()
    assert sites == [("aarslev-celle5", "aarslev-celle5"), ("aarslev-celle6", "aarslev-celle6")]
    conn.commit()
    hour = datetime(2014, 4, 8, 10, tzinfo=UTC)  # 12:00-12:50 local summer time
    with conn.transaction():
        inputs = read_inputs(conn, hour, hour + timedelta(hours=1), timedelta(hours=1))
    grid = aggregate(inputs, hour, hour + timedelta(hours=1), timedelta(hours=1))
    k = grid.signal_index("outside_radiation_w_m2")
    own = {site: grid.value[grid.sites.index(site), k, 0] for site in grid.sites}
    cell5 = [172.588, 282.547, 232.663, 224.247, 246.715, 145.393]  # the real lines
    cell6 = [293.6, 403.5, 353.7, 345.2, 367.7, 266.4]
    assert own["aarslev-celle5"] == pytest.approx(sum(cell5) / 6, rel=1e-12)
    assert own["aarslev-celle6"] == pytest.approx(sum(cell6) / 6, rel=1e-12)


def test_migration_0006_downgrades_cleanly_and_refuses_overlapping_live_windows(empty_db_url):
    migrate(empty_db_url, "head")
    downgrade(empty_db_url, "0004")
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables")}
        assert not {"sources", "source_signals", "conflicts"} & tables
        columns = conn.execute(
            "SELECT count(*) FROM information_schema.columns"
            " WHERE column_name IN ('source_id', 'rejected')"
        ).fetchone()
        assert columns == (0,)
        conn.execute(
            "INSERT INTO jobs (window_start, window_end) VALUES"
            " ('2016-01-18', '2016-01-19'), ('2016-01-18 06:00', '2016-01-18 12:00')"
        )
    with pytest.raises(Exception, match=r"live job windows overlap: job 1 \[2016-01-18"):
        migrate(empty_db_url, "head")
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("UPDATE jobs SET status = 'cancelled' WHERE id = 2")
    migrate(empty_db_url, "head")  # and up again
