"""Credentials of the behaviour tests' server (a uniquely named module: tests/ has several conftest.py)."""

HF_TOKEN = "hf_behaviour_token"
RF_KEY = "rf_behaviour_key"
AIR_KEY = "air_behaviour_key"
