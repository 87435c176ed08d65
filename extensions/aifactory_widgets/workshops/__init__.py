"""Workshops: help.py is the participant's "Raise my hand" button; desk.py the trainer's desk
(create a workshop, hand out its accounts) with room.py, the live room (who is logged in,
running, idle, whose hand is up)."""
