"""Evaluation harness: the paper's reward-model and refinement reports for any model store
or remote endpoints, over `arith`, `arith-hard`, GSM8K or SVAMP (`glore eval`)."""
