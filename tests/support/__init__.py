"""Helpers the test suites share: real servers, real databases."""
