"""Memorable run names, as MLflow gives them: an adjective, a noun and a number (bold-hawk-417).

Drawn from os.urandom: `random` is not imported on the warm path for this.
"""

from __future__ import annotations

import os

ADJECTIVES = (
    "able", "amber", "ample", "bold", "brave", "bright", "brisk", "calm", "clever", "cool",
    "crisp", "curious", "daring", "deft", "eager", "early", "fair", "fast", "fine", "fond",
    "gentle", "glad", "golden", "grand", "happy", "hardy", "honest", "humble", "jolly", "keen",
    "kind", "lively", "loyal", "lucid", "lucky", "merry", "mighty", "modest", "neat", "nimble",
    "noble", "patient", "plucky", "polite", "proud", "quick", "quiet", "rapid", "ready", "regal",
    "rustic", "sharp", "shiny", "silent", "sleek", "smart", "snappy", "steady", "stoic", "sunny",
    "swift", "tidy", "vivid", "witty",
)  # fmt: skip
NOUNS = (
    "ant", "badger", "bat", "bear", "bee", "bison", "boar", "carp", "cat", "colt", "crab",
    "crane", "crow", "deer", "dove", "eagle", "eel", "elk", "falcon", "finch", "fox", "frog",
    "gull", "hare", "hawk", "heron", "horse", "ibis", "jay", "koala", "lark", "lemur", "lion",
    "lynx", "mole", "moose", "moth", "newt", "otter", "owl", "panda", "perch", "pike", "puffin",
    "quail", "ram", "raven", "robin", "seal", "shark", "shrew", "skunk", "sloth", "snail",
    "stork", "swan", "tern", "tiger", "toad", "trout", "vole", "wasp", "whale", "wolf",
)  # fmt: skip


def memorable_name() -> str:
    """A name such as ``bold-hawk-417``: 64 x 64 x 1000 of them, so a clash is rare, and a
    clash is harmless (a run is named by its id; names need not be unique, as in MLflow)."""
    draw = int.from_bytes(os.urandom(4), "big")
    adjective = ADJECTIVES[draw % len(ADJECTIVES)]
    noun = NOUNS[(draw // len(ADJECTIVES)) % len(NOUNS)]
    number = (draw // (len(ADJECTIVES) * len(NOUNS))) % 1000
    return f"{adjective}-{noun}-{number}"
