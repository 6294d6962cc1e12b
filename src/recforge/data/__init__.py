"""Readers of public datasets and generic files, the synthetic shop, filtering, id vocabularies,
splits and negative sampling."""
