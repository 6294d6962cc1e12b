"""Readers of public datasets and generic files, each returning canonical
:class:`~recforge.data.tables.Tables` (NCF: :class:`~recforge.data.sources.ncf.NCFData`).

=====================  ===================================================================
reader                 source
=====================  ===================================================================
``read_movielens``     GroupLens MovieLens 100K/1M/10M/20M/25M/32M/latest folders
``read_ncf``           NCF paper's leave-one-out files (``*.train.rating`` ...)
``read_amazon_*``      Amazon reviews and metadata, 2014 and 2018 releases
``read_sequence_file`` S3-Rec style ``user item item ...`` sequence files
``read_yelp``          Yelp Open Dataset JSON files
``read_table``         any CSV/TSV/Parquet log with a column mapping
``read_criteo``        Criteo display-ads files (label, I1..I13, C1..C26): a row frame
=====================  ===================================================================
"""

from recforge.data.sources.amazon import (
    read_amazon_metadata,
    read_amazon_reviews,
    read_sequence_file,
)
from recforge.data.sources.criteo import iter_criteo, read_criteo
from recforge.data.sources.generic import read_table
from recforge.data.sources.movielens import read_movielens
from recforge.data.sources.ncf import NCFData, ncf_movie_ids, read_ncf
from recforge.data.sources.yelp import read_yelp

__all__ = [
    "NCFData",
    "iter_criteo",
    "ncf_movie_ids",
    "read_amazon_metadata",
    "read_amazon_reviews",
    "read_criteo",
    "read_movielens",
    "read_ncf",
    "read_sequence_file",
    "read_table",
    "read_yelp",
]
