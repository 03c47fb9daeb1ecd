"""loanrisk: the daily credit-risk batch pipeline of a consumer lender."""

__version__ = "0.1.0"
