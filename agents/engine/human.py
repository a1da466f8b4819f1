"""The built-in "asks for a human" detector: RE2 patterns over normalised text.

Requests, not mentions: "talk to a person", "get me your manager", "is there
a real human?", "human please" fire; "I talked to your manager yesterday",
"the person who delivered it" and "human error" do not (past tenses and bare
nouns are left out on purpose).
"""

from __future__ import annotations

from agents.engine.text import WordPattern

_WHO = (
    r"(?:a |an |the |your |some |one of your |someone |somebody )?"
    r"(?:real |actual |live |human |proper |senior )?"
    r"(?:person|human(?: being)?|people|agent|representative|rep|manager|supervisor|boss|operator|"
    r"someone|somebody|staff(?: member)?|employee|customer (?:service|support) (?:agent|rep|representative))"
)
# (candidate without boundaries for the Set, exact with them), as for phrases.
PATTERNS: tuple[tuple[str, WordPattern], ...] = tuple(
    (body.replace(" ", r"\s+"), WordPattern(body.replace(" ", r"\s+")))
    for body in (
        # talk to a person, speak with your manager, chat with a real human
        rf"(?:talk|speak|chat|talking|speaking) (?:to|with) {_WHO}",
        # connect me to / transfer me to / put me through to a supervisor
        rf"(?:connect|transfer|put|pass|escalate) (?:me|this|it)(?: through)? (?:to|with) {_WHO}",
        # get me your manager, give me a human, let me speak... (covered above)
        rf"(?:get|give|find|fetch) me {_WHO}",
        # I want / need / demand / would like a human (to talk to)
        rf"(?:want|need|demand|request|like|prefer) {_WHO}",
        # real person / actual human / live agent / human agent, on their own
        r"(?:real|actual|live) (?:person|human|people|agent)",
        r"human (?:agent|representative|operator|support)",
        # "human please", "agent, please", "representative!!"
        r"(?:human|person|agent|representative|operator|manager|supervisor),? please",
        # is there a human / are you a real person
        r"(?:is there|are you) (?:a |an )?(?:real |actual )?(?:human|person)",
    )
)
