"""The vision-contracts mock server (FastAPI)."""
