"""Borrower identities: Chinese names, mainland mobile numbers, resident IDs, regions, zones.

Every value is well formed: phones match ``^1[3-9][0-9]{9}$``, IDs carry a correct GB 11643-1999
(ISO 7064 MOD 11-2) check character, and the region code is the ID's first six digits, drawn from
real county-level administrative division codes.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from loanrisk.synth.dates import day_of_month, month_index
from loanrisk.synth.settings import IdentityConfig


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _weighted(text: str) -> tuple[tuple[str, float], ...]:
    """``"name:weight name:weight ..."`` as pairs."""
    pairs = (word.split(":") for word in _words(text))
    return tuple((name, float(weight)) for name, weight in pairs)


# Common surnames with rough relative frequencies (per cent of the population).
SURNAMES: tuple[tuple[str, float], ...] = _weighted(
    "王:7.1 李:7.2 张:6.3 刘:5.4 陈:4.6 杨:3.2 黄:2.5 赵:2.3 吴:2.0 周:1.9 徐:1.5 孙:1.4 "
    "马:1.3 朱:1.3 胡:1.2 郭:1.2 何:1.1 高:1.0 林:1.0 罗:0.9 郑:0.8 梁:0.8 谢:0.6 宋:0.6 "
    "唐:0.5 许:0.5 韩:0.5 冯:0.5 邓:0.5 曹:0.5 彭:0.5 曾:0.4 肖:0.4 田:0.4 董:0.4 袁:0.4 "
    "潘:0.4 于:0.4 蒋:0.4 蔡:0.4 余:0.4 杜:0.3 叶:0.3 程:0.3 苏:0.3 魏:0.3 吕:0.3 丁:0.3 "
    "任:0.3 沈:0.3 姚:0.3 卢:0.3 姜:0.3 崔:0.2 钟:0.2 谭:0.2 陆:0.2 汪:0.2 范:0.2 金:0.2 "
    "石:0.2 廖:0.2 贾:0.2 夏:0.2 韦:0.2 付:0.2 方:0.2 白:0.2 邹:0.2 孟:0.2 熊:0.2 秦:0.2 "
    "邱:0.2 江:0.2 尹:0.2 薛:0.2 闫:0.2 段:0.2 雷:0.1 侯:0.1 龙:0.1 史:0.1 陶:0.1 黎:0.1 "
    "贺:0.1 顾:0.1 毛:0.1 郝:0.1 龚:0.1 邵:0.1 万:0.1 钱:0.1 严:0.1 覃:0.1 武:0.1 戴:0.1 "
    "莫:0.1 孔:0.1 向:0.1 汤:0.1 欧阳:0.03 上官:0.01 司马:0.01"
)

GIVEN_CHARS = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂华飞玉萍红鹏辉建文斌宇浩凯健俊帆帅旭宁龙林"
    "欢阳佳晨婷雪琳晶颖倩琪欣怡子梓涵轩博思雨睿一诗嘉泽航昊然鑫志海春燕兰梅丹玲亮成国荣东晓"
    "光振永金波宏新亚彬家天瑞晗悦可心紫妍萱铭宸瑶豪毅诚彤馨雅慧婉清逸峰岩松柏立德安"
)

# Mainland mobile number segments (China Mobile, Unicom, Telecom, Broadnet).
PHONE_PREFIXES: tuple[str, ...] = _words(
    "130 131 132 133 134 135 136 137 138 139 145 147 150 151 152 153 155 156 157 158 159 166 "
    "172 173 175 176 177 178 180 181 182 183 184 185 186 187 188 189 191 193 195 198 199"
)

# Real county-level administrative division codes with rough population weights.
REGIONS: tuple[tuple[int, float], ...] = (
    (110101, 1.0), (110102, 1.2), (110105, 3.4), (110106, 2.0), (110108, 3.1), (110112, 1.8),
    (110114, 2.2), (110115, 2.0), (120101, 0.4), (120103, 0.9), (120104, 0.9), (120116, 2.0),
    (130102, 0.6), (130104, 0.7), (130203, 0.9), (130602, 1.0), (140105, 0.9), (140106, 0.6),
    (150102, 0.7), (210102, 0.7), (210106, 0.9), (210202, 0.4), (210204, 0.7), (220102, 0.6),
    (220104, 0.7), (230102, 0.9), (230103, 1.1), (310101, 0.7), (310104, 1.1), (310105, 0.7),
    (310106, 1.0), (310107, 0.9), (310110, 1.2), (310112, 2.6), (310113, 2.2), (310115, 5.7),
    (320102, 0.5), (320106, 0.9), (320113, 1.0), (320205, 0.8), (320505, 0.8), (320506, 1.4),
    (320508, 1.0), (320583, 2.1), (330102, 1.3), (330106, 1.1), (330108, 0.5), (330110, 2.2),
    (330203, 1.0), (330302, 1.3), (330782, 1.9), (340102, 1.0), (340104, 1.2), (350102, 0.7),
    (350203, 1.1), (350206, 1.0), (360102, 0.5), (370102, 0.8), (370202, 0.6), (370203, 1.1),
    (370212, 0.6), (410102, 1.2), (410105, 1.6), (410302, 0.2), (420102, 1.0), (420106, 1.3),
    (420111, 1.7), (430102, 0.6), (430104, 1.5), (440103, 1.1), (440104, 1.0), (440105, 1.8),
    (440106, 2.2), (440111, 3.7), (440113, 2.8), (440303, 1.1), (440304, 1.6), (440305, 1.8),
    (440306, 4.5), (440307, 4.0), (440604, 1.1), (441900, 10.5), (442000, 4.4), (450102, 0.5),
    (450103, 0.9), (460105, 0.5), (460106, 0.7), (500103, 0.6), (500105, 0.9), (500106, 1.5),
    (500112, 2.2), (510104, 0.9), (510105, 1.0), (510106, 1.3), (510107, 1.2), (510108, 1.4),
    (520102, 1.1), (520103, 1.2), (530102, 1.0), (530103, 1.0), (540102, 0.3), (610102, 0.6),
    (610103, 0.8), (610113, 1.5), (620102, 1.5), (630102, 0.4), (640104, 0.8), (650102, 0.7),
    (650103, 0.7), (650104, 0.8),
)  # fmt: skip
REGION_CODES = np.array([code for code, _ in REGIONS], dtype=np.int64)
REGION_WEIGHTS = np.array([w for _, w in REGIONS]) / sum(w for _, w in REGIONS)
XINJIANG_PREFIX = 65

ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
ID_CHECK_CHARS = "10X98765432"
_SURNAME_P = np.array([w for _, w in SURNAMES]) / sum(w for _, w in SURNAMES)
_YEAR_DAYS = 365.25


def id_check_char(first17: str) -> str:
    """GB 11643-1999 check character for the first 17 digits (scalar, for tests)."""
    total = sum(int(c) * int(w) for c, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def _check_chars(id17: np.ndarray) -> np.ndarray:
    powers = 10 ** np.arange(16, -1, -1, dtype=np.int64)
    digits = (id17[:, None] // powers[None, :]) % 10
    return np.array(list(ID_CHECK_CHARS))[(digits @ ID_WEIGHTS) % 11]


def _yyyymmdd(days: np.ndarray) -> np.ndarray:
    months = month_index(days)
    return (1970 + months // 12) * 10_000 + (months % 12 + 1) * 100 + day_of_month(days)


def _names(rng: np.random.Generator, n: int, cfg: IdentityConfig) -> pl.Series:
    surname = pl.Series([s for s, _ in SURNAMES]).gather(rng.choice(len(SURNAMES), n, p=_SURNAME_P))
    chars = pl.Series(list(GIVEN_CHARS))
    first = chars.gather(rng.integers(0, len(GIVEN_CHARS), n))
    second = chars.gather(rng.integers(0, len(GIVEN_CHARS), n))
    two = pl.Series(rng.random(n) < cfg.two_char_given_name_share)
    frame = pl.DataFrame({"s": surname, "a": first, "b": second, "two": two})
    return frame.select(
        pl.concat_str("s", "a", pl.when("two").then("b").otherwise(pl.lit("")), separator="").alias(
            "borrower_name"
        )
    ).to_series()


def _phones(rng: np.random.Generator, n: int) -> pl.Series:
    prefix = pl.Series(PHONE_PREFIXES).gather(rng.integers(0, len(PHONE_PREFIXES), n))
    rest = pl.Series(rng.integers(0, 100_000_000, n)).cast(pl.String).str.zfill(8)
    return (prefix + rest).alias("mobile_phone")


def make_identities(
    rng: np.random.Generator, n: int, cfg: IdentityConfig, as_of_day: int
) -> tuple[pl.DataFrame, np.ndarray]:
    """``n`` new borrowers' PII columns, and each one's index into ``REGION_CODES``."""
    region_idx = rng.choice(len(REGION_CODES), n, p=REGION_WEIGHTS)
    codes = REGION_CODES[region_idx]
    age_days = rng.uniform(cfg.age_min * _YEAR_DAYS, (cfg.age_max + 1) * _YEAR_DAYS - 1, n)
    birth = as_of_day - age_days.astype(np.int64)
    id17 = codes * 10**11 + _yyyymmdd(birth) * 1_000 + rng.integers(0, 1_000, n)
    national_id = pl.Series(id17).cast(pl.String) + pl.Series(_check_chars(id17))
    urumqi = (codes // 10_000 == XINJIANG_PREFIX) & (
        rng.random(n) < cfg.xinjiang_urumqi_timezone_share
    )
    frame = pl.DataFrame(
        {
            "borrower_name": _names(rng, n, cfg),
            "mobile_phone": _phones(rng, n),
            "national_id": national_id,
            "region_code": pl.Series(codes).cast(pl.String),
            "borrower_timezone": np.where(urumqi, "Asia/Urumqi", "Asia/Shanghai"),
        }
    )
    return frame, region_idx
