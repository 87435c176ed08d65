"""What every feature's widgets share: the client to the factory service (client.py), the one
confirm row (confirm.py), desk panels that show refusals in words (panel.py), escaped tables
and cells (tables.py), the browser-ticking refresh (refresh.py) and the display formats
(format.py). Nothing here imports a feature."""
