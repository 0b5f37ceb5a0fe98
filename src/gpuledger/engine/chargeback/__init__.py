"""Chargeback: allocation → rounded monthly statements per team, close and adjustments."""
