"""The resource and cost advisor: form.py (the widget: a run's inputs and every estimate),
view.py (its tables as rows of text, pure functions of the policy's estimates) and launch.py
(the button that opens the training launcher with the advisor's numbers)."""
