"""The centre's guides: the Markdown guides themselves (`*.md`, this package's data), library.py
(front matter, placeholders filled with the centre's facts, search, rendering), facts.py (the
facts a guide may quote, from the service's public site facts) and browser.py (the widget)."""
