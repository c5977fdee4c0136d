"""Code every service shares: settings, contracts, errors, logging, HTTP plumbing."""
