"""Scorecard fitting: the sample from stored history, the fit and its report."""
