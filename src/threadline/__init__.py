"""Threadline: from a seized distributor's records to tracked referrals for police in every country."""

__version__ = "0.1.0"
