"""Sales-channel adapters: each platform's payloads parsed into domain/channel_messages commands, and its API."""
