"""Savings recommendations: profiles → the rules → the recommendation table and its status."""
