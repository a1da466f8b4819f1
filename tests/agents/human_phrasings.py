"""Hand-written phrasings for the built-in asks-for-human detector (not corpus data).

DEVELOPMENT was looked at while writing agents/engine/human.py; HELD_OUT was written afterwards
and only measured (test_asks_for_human_recall_and_precision.py, bench/human_phrasings.py). Both
cover the words the issue names (operator, assistant, someone, agent, representative) and
misspellings; the negatives mention people without asking for one.
"""

DEVELOPMENT_REQUESTS = [
    "Can I talk to a person?",
    "let me speak with a real human",
    "I want to speak to your manager",
    "get me your supervisor",
    "Transfer me to a live agent please",
    "HUMAN PLEASE",
    "I need a human",
    "is there a real person there?",
    "representative, please",
    "can I talkk to someone?",
    "contact agent",
    "speak to an assistant",
    "contact an operator",
]
DEVELOPMENT_MENTIONS = [
    "I talked to your manager yesterday",
    "the person who delivered it was rude",
    "that was human error",
    "my supervisor approved the purchase",
]

HELD_OUT_REQUESTS = [
    "I'd like to speak to an operator",
    "please connect me with a representative",
    "Can I chat with someone from support?",
    "Could someone help me with this?",
    "I want a real person, not a bot",
    "can you put me through to an agent",
    "speak to agent",
    "talk to human",
    "I need to talk to somebody about my account",
    "Is anyone there?",
    "get me a customer service representative",
    "operator please",
    "Let me talk to a live person",
    "I demand to speak with a manager",
    "i want to tlak to someone",
    "can i speek to an agent",
    "connect me to an opertor",
    "I would like to talk to a representative",
    "Can I please speak to a human being?",
    "transfer me to customer support",
    "Please let me talk to your supervisor now",
    "I need a human agent",
    "Are you a real person?",
    "I want to contact a representative",
    "Put me through to someone who can actually help",
    "can i talk with an assistant please",
    "get me someone on the phone",
    "I'd prefer to speak to a person",
    "Could you transfer me to a human?",
    "contact support agent",
    "I need to speak to someone urgently",
    "Can a human look at this?",
    "need a live agent",
    "talk to a real human please",
    "speak with a rep",
    "I want someone to call me back",
    "Can somebody contact me?",
    "escalate this to a supervisor",
    "Is there a human I can talk to?",
    "i need to speak with a manger",
]
HELD_OUT_MENTIONS = [
    "I spoke to an operator last week and she was lovely",
    "Your agent told me the refund was approved",
    "The assistant already answered my question, thanks",
    "I talked to someone on the phone yesterday",
    "My manager asked me to order more paper",
    "It was a human error on my side, sorry",
    "The delivery person left it at the door",
    "The representative I contacted never replied",
    "Someone stole my card",
    "I don't need to talk to a person, the bot is fine",
    "no need to transfer me to an agent",
    "My account manager set this up",
    "The operator charged me twice",
    "Somebody at the store said it was fine",
    "Human resources sent me the invoice",
    "I was talking to my wife about the order",
    "Thanks, your assistant was very helpful",
    "Who is the account holder?",
    "My supervisor will pay the invoice",
    "The agent fee seems too high",
    "I already contacted customer service",
    "Can you tell me when the human resources office opens?",
    "The staff at the shop were great",
    "I never asked to speak to anyone",
    "Real estate agents keep calling me",
    "How many people work there?",
    "Does the card work for a person under 18?",
    "Is this a personal account or a business one?",
    "My son is a travel agent",
    "Which human-readable format is the statement in?",
]
# Found on Banking77's test split (real messages, none of them asking for a person) after the
# held-out measure: "like someone" was read as "I'd like someone". Kept apart from HELD_OUT.
FOUND_LATER_MENTIONS = [
    "It looks like someone else withdrew cash from my account, can you help?",
]
