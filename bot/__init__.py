"""chatlink's platform-neutral core, in rooms that import one way (higher rows use lower ones).

- `app`: the assembly: database, stores, services and provider built from `settings`
- `operations/`: what operators do: admin actions, retention, stats, the doctor's checks
- `conversation/`: the core's entry point, chat commands, turn order and memory
- `linking/`: signed one-time link codes, issued and redeemed in both directions
- `accounts/`: registration, logins, password hashing, the account cache
- `tools/`: MCP servers (MCP_SERVERS_FILE) kept connected, who is offered which tool, the loop
- `delivery/`: what doors share: running them, live replies, splitting, senders, wording
- `limits/`, `providers/`, `monitoring/`: rate limits and usage, language models, logs and metrics
- leaves: `errors`, `messages` (what goes in and out), `settings`, `secret`, `clock`
"""
