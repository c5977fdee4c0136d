"""The platform's four services: gateway, chat, retrieval and store."""
