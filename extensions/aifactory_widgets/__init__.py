"""ipywidgets for AI Factory Hub: researchers use them in notebooks, staff in Voila dashboards."""
