"""Step labels: what training writes and evaluation re-creates, by one set of rules.

`rules` (the SORM's label rule: a prefix is good when some rollout from it reaches the
answer and uses its value), `rollouts` (K rollouts per step prefix, batched), `records`
(the rows the stages write) and `metrics` (AUROC).
"""
