"""Money amounts in free text: "$1,250.00", "150 USD", "€200", "EUR 99", "99,50 €".

An amount needs a currency (a symbol, an ISO code, or a word such as
"dollars"): a bare number is an order number or a quantity as often as it is
money. "$" is read as USD, "¥" as JPY. No exchange rates: a rule's limit is
compared with the number as written; a rule with a "currency" parameter only
counts amounts in that currency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

SYMBOLS = {"$": "USD", "US$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₩": "KRW", "₽": "RUB"}
CODES = (
    "USD",
    "EUR",
    "GBP",
    "JPY",
    "CHF",
    "CAD",
    "AUD",
    "NZD",
    "INR",
    "SEK",
    "NOK",
    "DKK",
    "PLN",
    "CZK",
    "MXN",
    "BRL",
    "CNY",
    "HKD",
    "SGD",
    "ZAR",
    "KRW",
    "RUB",
    "TRY",
)
WORDS = {
    "dollar": "USD",
    "dollars": "USD",
    "bucks": "USD",
    "euro": "EUR",
    "euros": "EUR",
    "pound": "GBP",
    "pounds": "GBP",
    "yen": "JPY",
    "francs": "CHF",
}
SYMBOL_OF = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩", "RUB": "₽"}

# 1,250.00 | 1.250,00 | 1 250 | 1250 | 99.5 | 99,50
_NUMBER = r"\d{1,3}(?:[,.\u00a0\u202f ]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_SYMBOL = "|".join(re.escape(s) for s in sorted(SYMBOLS, key=len, reverse=True))
_CODE = "|".join(CODES)
_WORD = "|".join(sorted(WORDS, key=len, reverse=True))
_AMOUNT = re.compile(
    rf"(?:(?P<sym1>{_SYMBOL})|\b(?P<code1>{_CODE})\s?)\s*(?P<num1>{_NUMBER})(?!\d)"
    rf"|(?<![\d.,])(?P<num2>{_NUMBER})\s?(?:(?P<sym2>{_SYMBOL})|(?P<code2>{_CODE})\b|(?P<word>{_WORD})\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Amount:
    value: Decimal
    currency: str  # ISO code
    start: int
    end: int
    text: str  # as written

    def display(self) -> str:
        return format_money(self.value, self.currency)


def format_money(value: Decimal | float | int, currency: str) -> str:
    value = Decimal(str(value))
    number = f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"
    symbol = SYMBOL_OF.get(currency)
    if symbol:
        return f"{symbol}{number}"
    return f"{currency} {number}" if currency else number


def _parse_number(raw: str) -> Decimal | None:
    digits = raw.replace("\u00a0", " ").replace("\u202f", " ").replace(" ", "")
    last = max(digits.rfind(","), digits.rfind("."))
    if last != -1 and len(digits) - last - 1 in (1, 2):
        # The last separator followed by 1-2 digits is the decimal point (either style).
        whole, fraction = digits[:last], digits[last + 1 :]
    else:
        whole, fraction = digits, ""
    whole = whole.replace(",", "").replace(".", "")
    try:
        return Decimal(f"{whole}.{fraction}" if fraction else whole)
    except InvalidOperation:
        return None


def find_amounts(text: str) -> list[Amount]:
    found = []
    for match in _AMOUNT.finditer(text):
        groups = match.groupdict()
        raw = groups["num1"] or groups["num2"]
        value = _parse_number(raw)
        if value is None:
            continue
        if groups["sym1"] or groups["sym2"]:
            currency = SYMBOLS[(groups["sym1"] or groups["sym2"]).upper()]
        elif groups["code1"] or groups["code2"]:
            currency = (groups["code1"] or groups["code2"]).upper()
        else:
            currency = WORDS[groups["word"].lower()]
        found.append(Amount(value, currency, match.start(), match.end(), match.group(0).strip()))
    return found
