"""Testing tools for batch-router users and plugin authors.

* :mod:`.fake_provider` - an in-memory provider on a controllable clock (``FakeService``).
* :mod:`.conformance` - the shared conformance suite every provider plugin runs; one line enables
it:
  ``TestConformance = conformance_suite("myprovider", chat_model="...")``.
* :mod:`.pytest_plugin` - fixtures, enabled automatically when batch-router-core is installed.
"""
