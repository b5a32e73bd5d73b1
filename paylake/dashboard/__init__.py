"""The live dashboard: Redis reads (data), pure view logic (view, charts) and `paylake dashboard`."""
