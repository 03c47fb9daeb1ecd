"""Data quality: the data contracts, parsing and typing of landing files, the row rules, the
batch gates and the Great Expectations engine that checks every feed."""
