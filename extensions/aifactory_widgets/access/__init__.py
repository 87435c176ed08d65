"""Access to compute time, as the researcher and the centre's staff see it.

form.py is the researcher's proposal form (checked by the service as they type); status.py
their applications and projects (a PI manages members there); proposal_view.py how a
proposal reads, the same on every desk; proposal_desk.py and its tabs (calls, proposals,
decision, projects) the staff's desk; review_desk.py the reviewer's.
"""
