"""Greenhouse features: one value per site and window, from several signals at once.

Inputs are the windowed grid values (sites, signals, windows, samples) on the array
module ``xp``. A feature whose signals a site lacks, or that has fewer than
``spec.min_valid`` usable samples in a window, is NaN (and so absent from the output).
"Hours" and degree days are scaled from the valid samples to the whole window width
(fraction of valid samples x window length), so a gap does not read as darkness or cold;
the window's ``coverage`` feature says how much was observed.
Formulas: README.md, "Greenhouse features".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType

import numpy as np
import pandas as pd

from greenhouse_queue.consumer.stages.sums import last_axis_sum
from greenhouse_queue.consumer.stages.windows import WindowSpec

SIGNAL = "greenhouse"  # the ``signal`` column of every feature in this module

GDD_BASE_C = 10.0
# PPFD (umol m-2 s-1) per W m-2 of global radiation: 0.45 of it is PAR, 4.57 umol/J.
PPFD_PER_W_M2 = 0.45 * 4.57
LIGHT_THRESHOLD_UMOL = 10.0  # PPFD above which a sample counts as "light" (photoperiod)
LAMP_ON = 0.5  # a sample's mean lamp status at or above this counts as "lamps on"
VPD_STRESS_KPA = (0.4, 1.6)  # outside this band: too humid / too dry
HD_STRESS_G_M3 = (3.0, 7.0)  # humidity deficit band, same idea
PEAK_HOURS_LOCAL = (8, 20)  # [08:00, 20:00) Danish local time is "peak"
LOCAL_TZ = "Europe/Copenhagen"

FEATURES = (
    "inside_outside_temp_diff_mean",
    "inside_outside_temp_diff_std",
    "growing_degree_days_base10",
    "daily_light_integral_mol_m2",
    "photoperiod_hours",
    "lamp_on_hours",
    "lamp_energy_cost_eur_per_mw",
    "peak_offpeak_price_ratio",
    "vpd_stress_hours",
    "humidity_deficit_stress_hours",
    "corr_temp_rh",
    "corr_light_temp",
    "corr_setpoint_temp",
)


def _signal(xp: ModuleType, value, signals: Sequence[str], name: str):
    """(S, W, L) values of ``name``, all NaN when the grid lacks it."""
    if name in signals:
        return value[:, signals.index(name)]
    return xp.full(value.shape[:1] + value.shape[2:], xp.nan)


def _first_available(xp: ModuleType, options, min_valid: int):
    """Per site and window, the first of ``options`` with at least min_valid values."""
    chosen = options[-1]
    for option in reversed(options[:-1]):
        ok = (~xp.isnan(option)).sum(axis=-1) >= min_valid
        chosen = xp.where(ok[..., None], option, chosen)
    return chosen


def _masked_mean(xp: ModuleType, x, min_valid: int):
    """Mean over the last axis of the non-NaN values; NaN below min_valid of them."""
    ok = ~xp.isnan(x)
    n = ok.sum(axis=-1)
    return xp.where(n >= min_valid, last_axis_sum(xp, xp.where(ok, x, 0.0)) / n, xp.nan)


def _masked_std(xp: ModuleType, x, min_valid: int):
    """Population standard deviation (ddof 0) of the non-NaN values."""
    ok = ~xp.isnan(x)
    n = ok.sum(axis=-1)
    mean = last_axis_sum(xp, xp.where(ok, x, 0.0)) / n
    d = xp.where(ok, x - mean[..., None], 0.0)
    return xp.where(n >= min_valid, xp.sqrt(last_axis_sum(xp, d * d) / n), xp.nan)


def _fraction(xp: ModuleType, flag, known, min_valid: int):
    """Share of the ``known`` samples where ``flag`` holds; NaN below min_valid known."""
    n = known.sum(axis=-1)
    return xp.where(n >= min_valid, (flag & known).sum(axis=-1) / n, xp.nan)


def _pearson(xp: ModuleType, a, b, min_valid: int):
    """Pearson correlation over samples where both are valid; NaN if either is constant."""
    ok = ~xp.isnan(a) & ~xp.isnan(b)
    n = ok.sum(axis=-1)
    az, bz = xp.where(ok, a, 0.0), xp.where(ok, b, 0.0)
    da = xp.where(ok, a - (last_axis_sum(xp, az) / n)[..., None], 0.0)
    db = xp.where(ok, b - (last_axis_sum(xp, bz) / n)[..., None], 0.0)
    saa, sbb = last_axis_sum(xp, da * da), last_axis_sum(xp, db * db)
    r = last_axis_sum(xp, da * db) / xp.sqrt(saa * sbb)
    return xp.where((n >= min_valid) & (saa > 0) & (sbb > 0), xp.clip(r, -1.0, 1.0), xp.nan)


def local_hours(times: np.ndarray) -> np.ndarray:
    """Hour of day in Danish local time (summer time aware) of UTC datetime64 values."""
    flat = pd.DatetimeIndex(times.ravel().astype("datetime64[s]"), tz="UTC")
    return np.asarray(flat.tz_convert(LOCAL_TZ).hour, dtype=np.int64).reshape(times.shape)


def greenhouse_features(
    xp: ModuleType,
    value,
    signals: Sequence[str],
    sites: Sequence[str],
    times: np.ndarray,
    spec: WindowSpec,
    price_area: Mapping[str, str],
) -> dict[str, object]:
    """{feature: (S * W,) array} for the windowed values ``value`` (S, K, W, L).

    ``times`` (W, L) are the UTC sample times; ``price_area`` maps a site to DK1/DK2."""
    signals = tuple(signals)
    mv = spec.min_valid
    width_h = spec.width.total_seconds() / 3600.0
    sig = lambda name: _signal(xp, value, signals, name)  # noqa: E731

    air, outside = sig("air_temp_c"), sig("outside_temp_c")
    out: dict[str, object] = {}
    diff = air - outside
    out["inside_outside_temp_diff_mean"] = _masked_mean(xp, diff, mv)
    out["inside_outside_temp_diff_std"] = _masked_std(xp, diff, mv)
    out["growing_degree_days_base10"] = (
        _masked_mean(xp, xp.maximum(air - GDD_BASE_C, 0.0), mv) * width_h / 24.0
    )

    # Light as PPFD: a PAR sensor when present, else global radiation converted.
    ppfd = _first_available(
        xp,
        [
            sig("light_intensity_umol"),
            sig("radiation_w_m2") * PPFD_PER_W_M2,
            sig("outside_radiation_w_m2") * PPFD_PER_W_M2,
        ],
        mv,
    )
    out["daily_light_integral_mol_m2"] = _masked_mean(xp, ppfd, mv) * 86400.0 / 1e6

    lamp_names = [s for s in signals if s.startswith("lamp_")]
    if lamp_names:  # mean status over the site's lamp groups, per sample
        lamps = value[:, [signals.index(s) for s in lamp_names]]
        ok = ~xp.isnan(lamps)
        groups = ok.sum(axis=1)
        lamp = xp.where(groups > 0, xp.where(ok, lamps, 0.0).sum(axis=1) / groups, xp.nan)
    else:
        lamp = xp.full(air.shape, xp.nan)
    lamp_known = ~xp.isnan(lamp)
    lamps_on = lamp_known & (lamp >= LAMP_ON)
    out["lamp_on_hours"] = _fraction(xp, lamps_on, lamp_known, mv) * width_h

    light_known = ~xp.isnan(ppfd)
    lit = (light_known & (ppfd > LIGHT_THRESHOLD_UMOL)) | lamps_on
    out["photoperiod_hours"] = _fraction(xp, lit, light_known | lamp_known, mv) * width_h

    # Each site's spot price, by its price area (one name lookup per site: setup).
    names = [f"spot_price_{price_area.get(site, 'DK1').lower()}_eur_mwh" for site in sites]
    rows = np.asarray([signals.index(n) if n in signals else -1 for n in names])
    price = value[xp.arange(len(sites)), xp.asarray(np.maximum(rows, 0))]
    price = xp.where(xp.asarray(rows >= 0)[:, None, None], price, xp.nan)
    out["lamp_energy_cost_eur_per_mw"] = _masked_mean(xp, lamp * price, mv) * width_h

    hours = xp.asarray(local_hours(times))[None]  # (1, W, L)
    peak = (hours >= PEAK_HOURS_LOCAL[0]) & (hours < PEAK_HOURS_LOCAL[1])
    price_known = ~xp.isnan(price)
    pz = xp.where(price_known, price, 0.0)
    n_peak, n_off = (price_known & peak).sum(axis=-1), (price_known & ~peak).sum(axis=-1)
    peak_mean = last_axis_sum(xp, xp.where(peak, pz, 0.0)) / n_peak
    off_mean = last_axis_sum(xp, xp.where(peak, 0.0, pz)) / n_off
    ok = (n_peak + n_off >= mv) & (n_peak > 0) & (n_off > 0) & (off_mean > 0)
    out["peak_offpeak_price_ratio"] = xp.where(ok, peak_mean / off_mean, xp.nan)

    # VPD: measured, else from air temperature and RH (Tetens, kPa).
    rh = sig("rh_percent")
    tetens = 0.6108 * xp.exp(17.27 * air / (air + 237.3)) * (1.0 - rh / 100.0)
    vpd = _first_available(xp, [sig("vpd_kpa"), tetens], mv)
    vpd_known = ~xp.isnan(vpd)
    vpd_stress = vpd_known & ((vpd < VPD_STRESS_KPA[0]) | (vpd > VPD_STRESS_KPA[1]))
    out["vpd_stress_hours"] = _fraction(xp, vpd_stress, vpd_known, mv) * width_h
    hd = sig("humidity_deficit_g_m3")
    hd_known = ~xp.isnan(hd)
    hd_stress = hd_known & ((hd < HD_STRESS_G_M3[0]) | (hd > HD_STRESS_G_M3[1]))
    out["humidity_deficit_stress_hours"] = _fraction(xp, hd_stress, hd_known, mv) * width_h

    out["corr_temp_rh"] = _pearson(xp, air, rh, mv)
    out["corr_light_temp"] = _pearson(xp, ppfd, air, mv)
    out["corr_setpoint_temp"] = _pearson(xp, sig("heating_setpoint_c"), air, mv)

    return {name: out[name].reshape(-1) for name in FEATURES}
