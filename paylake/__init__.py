"""paylake: a hot/cold data lake for payment transactions with cached KPIs."""

__version__ = "0.1.0"
