"""The data contracts against config/, before any stage runs (DESIGN.md §5b "Safe inputs to
the program itself"). ``config.check_products`` cross-checks the config files at load; the
contracts sit in this layer, above config, so their checks against it are made here and called
by ``lake.storage.enter_data_root``, where every run, backfill and Airflow task starts.
"""

from __future__ import annotations

from loanrisk.config import Settings
from loanrisk.domain.feeds import LOANS
from loanrisk.domain.yaml_models import capped
from loanrisk.errors import ContractConfigMismatchError
from loanrisk.quality.contracts import load_contract

#: The config file and key the loans contract's credit_limit rule must agree with.
CREDIT_LINE_KEY = ("ecl.yaml", "credit_line_products")


def credit_line_rule_products(settings: Settings) -> tuple[str, tuple[str, ...]]:
    """The loans contract's rule requiring ``credit_limit`` by ``product_code`` (its name, or
    "" when there is none) and the products it names, sorted."""
    contract = load_contract(settings.contracts_dir, LOANS)
    rules = [
        rule
        for rule in contract.quality
        if rule.kind == "required_if"
        and (rule.args.get("column"), rule.args.get("when")) == ("credit_limit", "product_code")
    ]
    names = [rule.name for rule in rules]
    products = {str(value) for rule in rules for value in rule.args.get("values") or ()}
    return ", ".join(names), tuple(sorted(products))


def check_contracts(settings: Settings) -> None:
    """Stop before any stage runs when the loans contract requires credit_limit for other
    products than config's credit lines: a credit line the contract does not name could
    publish without a limit (its ECL exposure is drawn from it), a product the contract names
    but config does not is validated as a credit line and provisioned as a loan."""
    rule, named = credit_line_rule_products(settings)
    configured = tuple(sorted(settings.risk.ecl.credit_line_products))
    if named != configured:
        raise ContractConfigMismatchError(
            contract=f"{LOANS}.yaml",
            rule=rule or "(no credit_limit rule)",
            file=CREDIT_LINE_KEY[0],
            key=CREDIT_LINE_KEY[1],
            contract_products=capped(", ".join(named)),
            config_products=capped(", ".join(configured)),
        )
