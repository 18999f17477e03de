"""The vision-contracts pytest plugin: fixtures, strategies and validators."""
