"""Backends turn a checked model into something that runs."""
