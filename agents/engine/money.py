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


# --- requests, not status questions ----------------------------------------------------------
# "Refund of $150 please" asks for money; "I'm waiting for a refund of $299, has it been
# processed?" asks where it is. A message is a request when it says so in the present ("I want",
# "can I get", "refund me"), or when it says nothing about an earlier request's progress. Read on
# normalised text (lower case, accents dropped). Documented in docs/admins/matching.md.
_REQUEST = re.compile(
    r"\b(?:i|we)(?: really| still| just)? (?:want|need|demand|request|would like|wish)\b"
    r"(?! to (?:know|check|ask|understand|see|find out|confirm))"
    r"|\b(?:i|we)['’]d like\b(?! to (?:know|check|ask|understand|see|find out|confirm))"
    r"|\b(?:i|we)['’]?m (?:requesting|asking for|claiming|demanding)\b"
    r"|\b(?:i|we) am (?:requesting|asking for|claiming|demanding)\b"
    r"|\b(?:can|could|may) (?:i|we) (?:please )?(?:get|have|receive|claim|request)\b"
    r"|\b(?:can|could|would|will) you (?:please )?(?:refund|give|send|return|pay|process|reimburse)\b"
    r"|\b(?:give|send|pay|refund|reimburse) (?:me|us)\b"
    r"|\b(?:want|need) (?:my|our) money\b"
)
_STATUS = re.compile(
    r"\b(?:waiting (?:for|on)|still (?:waiting|haven['’]?t|hasn['’]?t|not|no)"
    r"|(?:has|have) (?:it|this|that|they|you) (?:been|already|processed|sent|issued)"
    r"|(?:did|have|has) you (?:process|send|issue|receive|get)"
    r"|when (?:will|is|can|do|does|did|should|would)|where(?:['’]s| is| are)"
    r"|status|(?:been|being|was|were|get) processed|processed yet|pending|on (?:its|the) way"
    r"|not (?:yet )?(?:received|arrived|showing|shown|come|credited|here)|show(?:n|ing)? up"
    r"|(?:haven['’]?t|hasn['’]?t|didn['’]?t|never) (?:received|got|gotten|seen|arrived|come|get|receive)"
    r"|already (?:requested|asked|applied|filed)|(?:i|we) (?:requested|asked for|applied for|filed|submitted)"
    r"|(?:was|were|been|is) (?:sent|issued|paid|credited|approved|refunded)"
    r"|(?:want|like|need) to (?:know|check|confirm|find out)"
    r"|how long|any (?:news|update)|track(?:ing)?)\b"
)


def is_request(normalised: str) -> bool:
    """A request for money (see above), on normalised text."""
    return _REQUEST.search(normalised) is not None or _STATUS.search(normalised) is None
