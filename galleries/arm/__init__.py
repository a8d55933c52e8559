"""The ARM template engine: expressions, functions and template expansion, as pure code.

No HTTP and no database writes: callers hand in the scope, an api-version check and a
``reference()`` callback; :func:`galleries.arm.expand.expand` answers a :class:`~galleries.arm.expand.Plan`.
See docs/templates.md.
"""
