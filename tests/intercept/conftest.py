collect_ignore = ["downstream_app"]  # a downstream project's own tests: run by test_downstream_intercept.py, in a namespace
