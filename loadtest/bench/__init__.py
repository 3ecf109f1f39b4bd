"""The benches: figures and ratios against a baseline measured in the same run, printed
as JSON lines (:mod:`loadtest.report`). ``imias bench core|booking|cities|floor``."""
