"""Running batches as jobs: the router, its ledger and claims, and the synchronous facade.

``router`` (:class:`BatchRouter`: validate, submit, poll, download), ``shards``, ``recovery``,
``status``, ``ledger`` (the SQLite record of every logical and provider job), ``claims`` (who may
call the provider for a job), ``sync`` (a blocking facade for scripts). Import the modules you need:
this package imports none of them, so that reading the ledger does not load the router.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["sync_provider_alias"]


def sync_provider_alias(alias: str, provider: str) -> Callable[[str], object]:
    """A module ``__getattr__`` publishing ``alias``: the synchronous
    :class:`~batch_router_core.jobs.sync.Provider` of ``provider``, built on first use so that
    importing the plugin (as discovery does) does not load the router::

        __getattr__ = sync_provider_alias("AcmeProvider", "acme")
    """
    built: dict[str, type] = {}

    def module_getattr(name: str) -> object:
        if name != alias:
            raise AttributeError(name)
        if alias not in built:
            from batch_router_core.jobs.sync import Provider

            built[alias] = type(
                alias,
                (Provider,),
                {
                    "provider_name": provider,
                    "__doc__": f"The synchronous {provider} provider (``send_batch`` / "
                    "``poll_status`` / ``get_results``).",
                },
            )
        return built[alias]

    return module_getattr
