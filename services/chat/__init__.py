"""The chat service: a ChatKit server running an Agents SDK book assistant."""
