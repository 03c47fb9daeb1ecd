"""Arrow text helpers of the custom Great Expectations expectations (``gx_custom``,
``gx_values``): a pandas text column as one Arrow array, and boolean results as numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def arrow_text(text: pd.Series) -> pa.Array:
    """The text as one Arrow string array (zero-copy for pandas' Arrow-backed strings)."""
    dtype = text.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        text = text.astype(pd.StringDtype("pyarrow"))
    array = pa.chunked_array(text.array.__arrow_array__()).combine_chunks()
    return array.cast(pa.large_string())


def matches(array: pa.Array, pattern: str) -> np.ndarray:
    """Boolean mask (nulls False) of the values matching an anchored regular expression."""
    found = pc.fill_null(pc.match_substring_regex(array, pattern), False)
    return found.to_numpy(zero_copy_only=False)


def mask(flags: pa.Array) -> np.ndarray:
    """A boolean Arrow array as numpy, null as False."""
    return pc.fill_null(flags, False).to_numpy(zero_copy_only=False)
