"""Words every chat door says on the core's behalf, kept in one place."""

APOLOGY = "Sorry, something went wrong on my side. Please try again."
SENT_PRIVATELY = "I sent you the answer in a private message."
CANNOT_DM = (
    "I can't message you privately yet: open a private chat with me (or allow direct "
    "messages), then ask again."
)
NOT_HERE = "I am not enabled in this server or group."
STORAGE_FAILED = (
    "Sorry, I can't save anything right now (a problem on my side). "
    "Please try again in a few minutes."
)
