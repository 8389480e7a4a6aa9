"""Rolling out a new model version on live traffic: the split, what each version did, the guards, the controller.

The gateway holds the split (:mod:`.router`) and answers each request from ``@champion`` or, for a share,
from the challenger deployment that serves ``@challenger``; the controller (:mod:`.controller`, run by
``attnops rollout``) moves the share step by step and judges each step by the guards (:mod:`.guards`).
"""
