"""Models the book assistant can run on."""
