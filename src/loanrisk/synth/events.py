"""The borrower activity feed (``events_YYYY-MM-DD.csv``).

Every borrower on the book logs in, buys and transfers at configured daily rates, at times drawn
from a diurnal profile, from their current device and home region. On top of that, the patterns
the monitoring signals look for (``loanrisk.domain.signals``): bursts of failed logins from an
unknown
device and region (some ending in a successful login), new devices, trips (a day's events from
another region), spikes of purchases and transfers out, accounts drained by outflows in the days
before a due date, disbursements (TRANSFER_IN) that are sometimes cashed out within hours; each
more often for fraud and for riskier grades (``_propensity``), i.e. among borrowers who later go
delinquent. And one REPAYMENT per loan paid that day, for exactly the amount received.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from loanrisk.synth.dates import from_day
from loanrisk.synth.identity import REGION_CODES
from loanrisk.synth.output import borrower_id, label, local_timestamp, money
from loanrisk.synth.settings import EventsConfig, SynthConfig, cents
from loanrisk.synth.state import ACTIVE, Book, Day

EVENT_TYPES = (
    "LOGIN_SUCCESS",
    "LOGIN_FAILURE",
    "TRANSFER_IN",
    "TRANSFER_OUT",
    "PURCHASE",
    "CASH_WITHDRAWAL",
    "REPAYMENT",
)
LOGIN_OK, LOGIN_FAIL, TRANSFER_IN, TRANSFER_OUT, PURCHASE, CASH_OUT, REPAYMENT = range(7)
SECONDS_PER_DAY = 86_400
ATTACKER_SALT = 1 << 40
DEVICE_DIGITS = 16
_FIELDS = ("borrower", "second", "kind", "amount", "device", "ip")


def device_hash(borrower: np.ndarray, counter: np.ndarray) -> np.ndarray:
    """A stable 16-digit device fingerprint per (borrower, device counter): splitmix64."""
    with np.errstate(over="ignore"):
        z = (borrower.astype(np.uint64) << np.uint64(20)) + counter.astype(np.uint64)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(10**DEVICE_DIGITS)).astype(np.int64)


def _block(borrower, second, kind, amount=None, device=None, ip=None) -> dict[str, np.ndarray]:
    n = len(borrower)
    fill = np.full(n, -1, dtype=np.int64)
    kind = np.broadcast_to(np.asarray(kind, dtype=np.int64), (n,))
    values = (borrower, second, kind, amount, device, ip)
    return {
        k: fill if v is None else np.asarray(v, dtype=np.int64)
        for k, v in zip(_FIELDS, values, strict=True)
    }


def _seconds(rng: np.random.Generator, ev: EventsConfig, n: int) -> np.ndarray:
    weights = np.array(ev.hour_weights)
    hour = rng.choice(24, n, p=weights / weights.sum())
    return hour * 3600 + rng.integers(0, 3600, n)


def _amounts(rng: np.random.Generator, median: int, sigma: float, n: int) -> np.ndarray:
    return np.maximum(np.round(median * np.exp(rng.normal(0, sigma, n))), 1).astype(np.int64)


def _grouped_offsets(
    rng: np.random.Generator, sizes: np.ndarray, low: int, high: int
) -> np.ndarray:
    """Cumulative random gaps within each group of ``sizes`` consecutive rows."""
    gaps = rng.integers(low, high, int(sizes.sum()))
    total = np.cumsum(gaps)
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    before = np.concatenate([[0], total])[starts]
    return total - before


def _propensity(cfg: SynthConfig, book: Book, who: np.ndarray) -> np.ndarray:
    """How many times more often than average each borrower shows a monitoring pattern:
    x fraud_signal_multiplier for fraud, x (grade miss / book-average miss) ** elasticity."""
    ev = cfg.events
    miss = np.array([g.miss_probability for g in cfg.risk_grades])
    average = float(miss @ np.array([g.share for g in cfg.risk_grades]))
    grade = np.power(miss / max(average, 1e-12), ev.risk_signal_elasticity)
    fraud = np.where(book.borrowers.fraud[who], ev.fraud_signal_multiplier, 1.0)
    return grade[book.borrowers.grade[who]] * fraud


def _chosen(rng, cfg: SynthConfig, book: Book, who: np.ndarray, probability: float) -> np.ndarray:
    """The borrowers of ``who`` showing a pattern of base daily ``probability`` today."""
    chance = np.clip(probability * _propensity(cfg, book, who), 0, 1)
    return who[rng.random(len(who)) < chance]


def _home_device(book: Book, borrower: np.ndarray) -> np.ndarray:
    """Hashed from the borrower's number in the book, so devices differ across blocks."""
    return device_hash(borrower + book.first_borrower, book.borrowers.devices[borrower])


def _routine(rng, ev: EventsConfig, book: Book, active: np.ndarray) -> list[dict]:
    """Everyday logins, purchases and transfers; logins sometimes after a typo."""
    rates = {
        LOGIN_OK: ev.login_rate,
        PURCHASE: ev.purchase_rate,
        TRANSFER_IN: ev.transfer_in_rate,
        TRANSFER_OUT: ev.transfer_out_rate,
    }
    transfer = cents(ev.transfer_amount_median)
    medians = {
        PURCHASE: cents(ev.purchase_amount_median),
        TRANSFER_IN: transfer,
        TRANSFER_OUT: transfer,
    }
    blocks = []
    for kind, rate in rates.items():
        who = np.repeat(active, rng.poisson(rate, len(active)))
        amount = (
            _amounts(rng, medians[kind], ev.amount_sigma, len(who)) if kind in medians else None
        )
        blocks.append(_block(who, _seconds(rng, ev, len(who)), kind, amount))
    logins = blocks[0]
    typo = rng.random(len(logins["borrower"])) < ev.login_typo_probability
    earlier = np.maximum(logins["second"][typo] - rng.integers(5, 60, typo.sum()), 0)
    blocks.append(_block(logins["borrower"][typo], earlier, LOGIN_FAIL))
    for block in blocks:
        block["device"] = _home_device(book, block["borrower"])
        block["ip"] = book.borrowers.region_idx[block["borrower"]]
    return blocks


def _new_devices(rng, cfg: SynthConfig, book: Book, active: np.ndarray) -> dict:
    """Some borrowers switch phones: the counter moves on, the new device logs in."""
    ev = cfg.events
    who = _chosen(rng, cfg, book, active, ev.new_device_daily_probability)
    book.borrowers.devices[who] += 1
    return _block(who, _seconds(rng, ev, len(who)), LOGIN_OK)


def _bursts(rng, cfg: SynthConfig, book: Book, active: np.ndarray, day: int) -> list[dict]:
    """Failed-login bursts from an unknown device and region, some ending in a takeover."""
    ev = cfg.events
    who = _chosen(rng, cfg, book, active, ev.burst_daily_probability)
    sizes = rng.integers(ev.burst_failures_min, ev.burst_failures_max + 1, len(who))
    start = rng.integers(0, SECONDS_PER_DAY // 2, len(who)) + SECONDS_PER_DAY // 4
    device = device_hash(who + book.first_borrower + ATTACKER_SALT, np.full(len(who), day))
    region = rng.integers(0, len(REGION_CODES), len(who))
    rows = np.repeat(np.arange(len(who)), sizes)
    offsets = _grouped_offsets(rng, sizes, 2, 40)
    second = start[rows] + offsets
    failures = _block(who[rows], second, LOGIN_FAIL, None, device[rows], region[rows])
    taken = rng.random(len(who)) < ev.burst_takeover_probability
    last = start + offsets[np.cumsum(sizes) - 1] + 30
    takeover = _block(who[taken], last[taken], LOGIN_OK, None, device[taken], region[taken])
    return [failures, takeover]


def _spikes(rng, cfg: SynthConfig, book: Book, active: np.ndarray) -> dict:
    """Bursts of large purchases and transfers out."""
    ev = cfg.events
    who = _chosen(rng, cfg, book, active, ev.spike_daily_probability)
    sizes = rng.integers(ev.spike_events_min, ev.spike_events_max + 1, len(who))
    rows = np.repeat(np.arange(len(who)), sizes)
    start = _seconds(rng, ev, len(who))
    second = start[rows] + _grouped_offsets(rng, sizes, 30, 300)
    kind = np.where(rng.random(len(rows)) < 0.5, PURCHASE, TRANSFER_OUT)
    median = cents(ev.purchase_amount_median) * ev.spike_amount_multiplier
    amount = _amounts(rng, int(median), ev.amount_sigma, len(rows))
    return _block(who[rows], second, kind, amount)


def _drains(rng, cfg: SynthConfig, book: Book, today: Day) -> dict:
    """Accounts drained by transfers out and withdrawals in the days before a due date."""
    ev, loans = cfg.events, book.loans
    ahead = loans.next_due() - today.day
    soon = (today.status == ACTIVE) & (ahead >= 1) & (ahead <= ev.drain_days_before_due)
    who = _chosen(rng, cfg, book, np.unique(loans.borrower[soon]), ev.drain_daily_probability)
    sizes = rng.integers(ev.drain_events_min, ev.drain_events_max + 1, len(who))
    rows = np.repeat(np.arange(len(who)), sizes)
    second = _seconds(rng, ev, len(who))[rows] + _grouped_offsets(rng, sizes, 60, 1800)
    kind = np.where(rng.random(len(rows)) < 0.5, CASH_OUT, TRANSFER_OUT)
    amount = _amounts(rng, cents(ev.drain_amount_median), ev.amount_sigma, len(rows))
    return _block(who[rows], second, kind, amount)


def _money_flows(rng, cfg: SynthConfig, book: Book, today: Day) -> list[dict]:
    """Disbursements in (sometimes cashed out within hours) and today's repayments."""
    ev = cfg.events
    who, amount = today.disbursed_borrower, today.disbursed_amount
    second = rng.integers(9 * 3600, 18 * 3600, len(who))
    base = np.clip(ev.cashout_probability * _propensity(cfg, book, who), 0, 1)
    chance = np.where(book.borrowers.fraud[who], ev.cashout_probability_fraud, base)
    out = rng.random(len(who)) < chance
    later = second[out] + rng.integers(300, 3 * 3600, out.sum())
    kind = np.where(rng.random(out.sum()) < 0.5, CASH_OUT, TRANSFER_OUT)
    taken = np.round(amount[out] * rng.uniform(0.9, 1.0, out.sum())).astype(np.int64)
    paid = np.flatnonzero(today.paid_today > 0)
    payer = book.loans.borrower[paid]
    return [
        _block(who, second, TRANSFER_IN, amount),
        _block(who[out], later, kind, np.maximum(taken, 1)),
        _block(payer, _seconds(rng, ev, len(paid)), REPAYMENT, today.paid_today[paid]),
    ]


def _finish(rng, cfg: SynthConfig, book: Book, blocks: list[dict]) -> dict[str, np.ndarray]:
    ev = cfg.events
    rows = {k: np.concatenate([b[k] for b in blocks]) for k in _FIELDS}
    n, who = len(rows["borrower"]), rows["borrower"]
    unknown = rows["device"] < 0
    rows["device"][unknown] = _home_device(book, who[unknown])
    rows["ip"] = np.where(rows["ip"] < 0, book.borrowers.region_idx[who], rows["ip"])
    everyone = np.arange(len(book.borrowers))
    travelling = np.zeros(len(everyone), dtype=bool)
    travelling[_chosen(rng, cfg, book, everyone, ev.travel_daily_probability)] = True
    trip = rng.integers(0, len(REGION_CODES), len(everyone))
    rows["ip"] = np.where(travelling[who], trip[who], rows["ip"])
    rows["ip"][rng.random(n) < ev.ip_unknown_share] = -1
    rows["device"][rng.random(n) < ev.device_unknown_share] = -1
    rows["second"] = np.clip(rows["second"], 0, SECONDS_PER_DAY - 1)
    order = np.lexsort((np.arange(n), rows["kind"], rows["borrower"], rows["second"]))
    rows = {k: v[order] for k, v in rows.items()}
    rows["ip"] = np.where(rows["ip"] >= 0, REGION_CODES[rows["ip"]], -1)
    return rows


def events_frame(
    rng: np.random.Generator,
    cfg: SynthConfig,
    book: Book,
    today: Day,
    columns: list[str],
    first_seq: int = 0,
) -> pl.DataFrame:
    """The block's event rows of the day in contract column order, event_id ascending with
    event_time within the block and numbered from ``first_seq`` (the rows of earlier blocks)."""
    active = np.flatnonzero(np.bincount(book.loans.borrower, minlength=len(book.borrowers)))
    blocks = [_new_devices(rng, cfg, book, active)]
    blocks += _routine(rng, cfg.events, book, active)
    blocks += _bursts(rng, cfg, book, active, today.day)
    blocks += [_spikes(rng, cfg, book, active), _drains(rng, cfg, book, today)]
    blocks += _money_flows(rng, cfg, book, today)
    rows = _finish(rng, cfg, book, blocks)
    stamp = from_day(today.day).strftime("%Y%m%d")
    seq = pl.int_range(first_seq, first_seq + pl.len(), dtype=pl.Int64)
    frame = pl.DataFrame(rows).with_columns(seq=seq)
    return frame.with_columns(
        pl.format(f"E{stamp}" + "{}", pl.col("seq").cast(pl.String).str.zfill(9)).alias("event_id"),
        borrower_id(book.first_borrower),
        local_timestamp(today.day, "second", "event_time"),
        label(EVENT_TYPES, "kind", "event_type"),
        money("amount"),
        pl.when(pl.col("device") >= 0)
        .then(pl.format("D{}", pl.col("device").cast(pl.String).str.zfill(DEVICE_DIGITS)))
        .alias("device_id"),
        pl.when(pl.col("ip") >= 0).then(pl.col("ip").cast(pl.String)).alias("ip_region"),
    ).select(columns)
