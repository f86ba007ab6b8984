"""Running batches as jobs: the router, its ledger and claims, and the synchronous facade.

``router`` (:class:`BatchRouter`: validate, shard, submit, poll, download, recover), ``ledger``
(the SQLite record of every logical and provider job), ``claims`` (who may call the provider for a
job), ``sync`` (a blocking facade for scripts). Import the modules you need: nothing is imported
here,
so that reading the ledger does not load the router.
"""
