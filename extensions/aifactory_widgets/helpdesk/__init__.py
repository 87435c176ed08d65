"""Ask an expert: ask.py is the researcher's question form and their tickets, with the context
context.py gathers in their own kernel (session, recent jobs from sacct, a failed job's
output, versions); desk.py is the support staff's ticket desk; panel.py the ticket list both
share; view.py how a ticket reads (pure functions, everything escaped)."""
