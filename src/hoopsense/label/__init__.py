"""Labelling: the label store of a clip folder and the local web app that changes it."""
