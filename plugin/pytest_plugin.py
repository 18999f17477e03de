"""pytest11 entry point of vision-contracts."""
