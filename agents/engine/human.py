"""The built-in "asks for a human" detector: RE2 patterns over normalised, typo-corrected text.

Requests, not mentions: "talk to a person", "contact an operator", "speak to
an assistant", "get me your manager", "is there a real human?", "human
please" fire; "I talked to your manager yesterday", "the person who
delivered it" and "human error" do not (past tenses and bare nouns are left
out on purpose), nor does a negated request ("I don't need a person").
Misspellings of VOCABULARY words ("talkk to someone", "opertor") are
corrected before the patterns run (agents.engine.words.TypoIndex).
Measured on held-out phrasings: tests/agents/human_phrasings.py.
"""

from __future__ import annotations

from agents.engine.text import WordPattern

_NOUN = (
    r"(?:persons?|people|humans?(?: beings?)?|agents?|representatives?|reps?|managers?|supervisors?|"
    r"boss|operators?|assistants?|someone|somebody|anyone|anybody|staff(?: members?)?|employees?|"
    r"(?:customer )?(?:service|support|care) (?:agents?|reps?|representatives?|team|staff))"
)
_WHO = (
    r"(?:a |an |the |your |some |one of your |someone |somebody |a member of )?"
    r"(?:real |actual |live |human |proper |senior |customer service |support )?" + _NOUN
)
# The words the patterns are made of that a customer may misspell (4+ letters; see words.near).
VOCABULARY = (
    "talk speak chat contact connect transfer someone somebody anyone person people human agent "
    "operator representative assistant manager supervisor staff employee please"
).split()
# (candidate without boundaries for the Set, exact with them), as for phrases.
PATTERNS: tuple[tuple[str, WordPattern], ...] = tuple(
    (body.replace(" ", r"\s+"), WordPattern(body.replace(" ", r"\s+")))
    for body in (
        # talk to a person, speak with your manager, chat with a real human
        rf"(?:talk|speak|chat) (?:to|with) {_WHO}",
        # am I talking to a real person?
        rf"(?:am i|are we) (?:talking|speaking|chatting) (?:to|with) {_WHO}",
        # contact agent, contact an operator, reach a person, call someone
        rf"(?:contact|reach|call|ring) {_WHO}",
        # connect me to / transfer me to / put me through to a supervisor
        rf"(?:connect|transfer|put|pass|escalate|forward|hand) (?:me|this|it|us)(?: over| through)? "
        rf"(?:to|with) {_WHO}",
        # get me your manager, give me a human
        rf"(?:get|give|find|fetch|send) (?:me|us) {_WHO}",
        # I want / need / demand / would like a human (to talk to)
        # ("would like", not "like": "it looks like someone else withdrew cash" is no request)
        rf"(?:want|need|demand|request|prefer|(?:would|i'd|we'd|id) like) {_WHO}",
        # can someone help me, could a human look at this
        rf"(?:can|could|would|will) {_WHO} (?:help|call|contact|assist|look|check|get back|reach)",
        # real person / actual human / live agent / human agent, on their own
        r"(?:real|actual|live) (?:persons?|humans?|people|agents?|operators?|assistants?)",
        r"human (?:agents?|representatives?|operators?|support|assistants?|help)",
        # "human please", "agent, please", "representative!!"
        r"(?:human|person|agent|representative|operator|manager|supervisor|someone|somebody),? please",
        # is there a human / are you a real person / is anyone there
        r"(?:is there|are you|is this) (?:a |an )?(?:real |actual )?(?:human|person|someone|anyone)",
        r"(?:is )?(?:anyone|anybody|someone|somebody) (?:there|real|human)",
    )
)
