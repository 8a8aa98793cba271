"""Identities: one ID per person for the whole game.

Tracker fragments in, identities out: appearance embeddings (a person re-ID
network, or colour histograms without one), linking of fragments across
occlusions, exits and camera cuts, teams and referees by unsupervised
clustering of jersey colours, and a gallery of each player's clearest crop.
"""
