"""Helpers shared by the test tiers: an in-process server and model fixtures."""
