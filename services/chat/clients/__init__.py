"""Clients of the services the chat service calls."""
