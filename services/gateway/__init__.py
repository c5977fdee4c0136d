"""The gateway: the only public service (auth, limits, CORS, streaming proxy, web client)."""
