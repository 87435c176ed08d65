"""The data side, for researchers: catalogue.py lets them search the shared datasets and
models their projects may use, read each one's licence, and copy its path or a ready snippet.
The items come from the factory service, which alone knows the site file and their projects."""
