"""The dashboard as a Streamlit script of the checkout (`streamlit run streamlit/app.py`); the app itself
ships in the package (paylake/dashboard/app.py), which `paylake dashboard` runs. Streamlit re-executes
this file on every rerun, so the app module is run afresh each time, not imported once."""

import runpy

runpy.run_module("paylake.dashboard.app", run_name="__main__")
